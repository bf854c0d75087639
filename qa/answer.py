"""Cited answers: the sentences that answer a question, its short answer, confidence, no-answer.

Flow of `ask`: resolve a follow-up against the history (`qa.chat`), retrieve passages
(`qa.retrieve`), split the hit passages into whole sentences of their article bodies, score
each sentence for the question, cite the best sentence plus its better-scoring neighbour when
both fit in EXTRACT_CHARS, then up to two more extracts from other passages, and take the short
answer from the first extract (`qa.spans`). Every word of an Answer is a substring of the edition.

Sentence score (weights in SCORE_WEIGHTS; each part in 0..1):
- lexical: IDF-weighted share of the question's terms (Han bigrams, numbers, Latin words)
  in the sentence; IDF over the candidate sentences, so the topic every candidate shares
  counts less than the words that single out the answer. For ranking, a term of the
  article's title counts as present in each of its sentences (CMRC dev extract_hit@1
  0.849 -> 0.881); the confidence uses the sentence's own words only;
- dense: e5 cosine of question and sentence, relative to the best candidate (1 = the best,
  0 = 0.1 below it). Sentence vectors are computed once per article and cached in the
  process (`warm` does all articles up front): embedding ~20 sentences per question would
  cost more than the whole 50 ms budget, while a cached lookup costs nothing;
- passage: the fused retrieval score of the hit the sentence came from, relative to the best;
- type: the sentence holds a span of the expected answer type (a number with the asked-for
  unit, a date, a name...) that the question does not already say;
- anchor: the sentence holds the words right next to the question word ("秘书长" in
  "秘书长叫什么名字");
- preferred: the article was cited by the previous answer of the conversation.

Highlight: the short answer when there is one; otherwise (reason and yes/no questions, or no
span of the expected type) the clause of the extract that shares most words with the
question; nothing when the answer is no_answer (the citations are related reading then).

Confidence (0..1) of the first extract: for Chinese questions 0.1 + 0.7 x lexical + 0.3 x
absolute cosine rescaled from 0.75..0.95; for English ones (no lexical evidence across
languages) 0.3 + 5 x (cosine - 0.725). Halved when the question asks for a typed answer
(quantity, date, person, place) and the extract holds none, and halved again for every
content noun of the question that none of the retrieved articles uses ("门票", "冠军"; x0.8
for a verbal noun: see `missing_terms`). no_answer = confidence < NO_ANSWER_THRESHOLD (0.40), set on the bundled
question set (2020-11-14.jsonl) and checked on a separate set of 28 hand-written questions.
The weights were chosen on CMRC 2018 dev slices (questions 1000-1600 and 2000-2600).
"""

from __future__ import annotations

import math
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from qa.chat import HistoryItem, previous_articles, resolve_question
from qa.errors import QuestionError
from qa.spans import (
    OTHER, QUANTITY, REASON, WHAT, YESNO, anchors, answer_type, best_clause, find_candidates, question_terms,
    short_answer_span, unit_hint,
)
from qa.text import compact, normalize, split_sentences
from qa.types import Answer, Article, Citation, Hit

__all__ = ["ask", "warm", "missing_terms", "cut_question", "MAX_QUESTION_CHARS", "EXTRACT_CHARS", "NO_ANSWER_THRESHOLD"]

# A question longer than this is cut (the UI says so); retrieval cuts further for its own use.
MAX_QUESTION_CHARS = 1000
# The first extract: the best sentence, plus its better neighbour when both fit in this many chars.
EXTRACT_CHARS = 200
# Below this confidence the answer is no_answer (citations become related reading); see above.
NO_ANSWER_THRESHOLD = 0.40
SCORE_WEIGHTS = {"lexical": 1.5, "dense": 1.0, "passage": 0.6, "type": 0.7, "anchor": 0.5, "preferred": 0.15}
MAX_CITATIONS = 3


def cut_question(question: object) -> str:
    """The question stripped and cut to MAX_QUESTION_CHARS; QuestionError when empty or not text."""
    if not isinstance(question, str):
        raise QuestionError("The question must be text.")
    text = question.strip()
    if not text:
        raise QuestionError("The question is empty: type a question about the edition.")
    return text[:MAX_QUESTION_CHARS].strip()


# ----------------------------------------------------------------------------- sentence cache

_CACHE_LIMIT = 50_000  # articles; a sentence vector is 1.5 KB, so this bounds memory
_cache: OrderedDict[tuple[str, str], tuple[list[tuple[int, int]], np.ndarray | None]] = OrderedDict()
_cache_lock = threading.Lock()


def _stored(index: Any, article: Article, spans: list[tuple[int, int]]) -> np.ndarray | None:
    """The vectors of the article's sentences `spans` saved in the index (`qa.index.sentence_ids`);
    None when it lacks any of them."""
    from qa.chunk import passage_id

    store = getattr(index, "sentence_vectors", None) if index is not None else None
    if store is None or not spans:
        return None
    return store.get([passage_id(article.id, s, e) for s, e in spans])


def _sentences(article: Article, embedder: Any | None,
               index: Any = None) -> tuple[list[tuple[int, int]], np.ndarray | None]:
    """Sentence spans of the article body and (when an embedder is given) their unit vectors.

    Vectors come from the index (embedded at build time) or are computed on first use; either
    way they are kept in a process cache keyed by model and article id: embedding the ~10-25
    sentences of the hits at every question would cost more than the whole retrieval.
    """
    key = (getattr(embedder, "model_id", ""), article.id)
    with _cache_lock:
        got = _cache.get(key)
        if got is not None and (got[1] is not None or embedder is None):
            _cache.move_to_end(key)
            return got
    spans = split_sentences(article.body)
    vectors = None
    if embedder is not None and spans:
        vectors = _stored(index, article, spans)
        if vectors is None:
            vectors = embedder.embed_passages([article.body[s:e] for s, e in spans])
    with _cache_lock:
        _cache[key] = (spans, vectors)
        while len(_cache) > _CACHE_LIMIT:
            _cache.popitem(last=False)
    return spans, vectors


def warm(index: Any, *, progress: bool = False) -> int:
    """Cache the sentence vectors of every article of `index` now (the app does this at
    start); returns how many sentences the index holds.

    Vectors saved in the index are read; the rest go to the model in one call, so it batches
    them by length: far faster than article by article (CMRC dev: ~10.7k sentences).
    """
    embedder = index.embedder
    model = getattr(embedder, "model_id", "")
    articles = list(index.articles())
    with _cache_lock:
        todo = [a for a in articles if (_cache.get((model, a.id)) or (None, None))[1] is None]
    spans_of = {a.id: split_sentences(a.body) for a in todo}
    ready = {a.id: v for a in todo if (v := _stored(index, a, spans_of[a.id])) is not None}
    with _cache_lock:
        for a in todo:
            if a.id in ready:
                _cache[(model, a.id)] = (spans_of[a.id], ready[a.id])
    todo = [a for a in todo if a.id not in ready]
    texts = [a.body[s:e] for a in todo for s, e in spans_of[a.id]]
    vectors = embedder.embed_passages(texts, progress=progress) if texts else None
    row = 0
    with _cache_lock:
        for a in todo:
            spans = spans_of[a.id]
            block = vectors[row:row + len(spans)] if spans and vectors is not None else None
            row += len(spans)
            _cache[(model, a.id)] = (spans, block)
            _cache.move_to_end((model, a.id))
        while len(_cache) > _CACHE_LIMIT:
            _cache.popitem(last=False)
    return sum(len(_sentences(a, None)[0]) for a in articles)


# ----------------------------------------------------------------------------- scoring


@dataclass
class _Sent:
    article: Article
    start: int
    end: int
    index: int  # position among the article's sentences
    hit: Hit
    vector: np.ndarray | None
    norm: str = ""
    score: float = 0.0
    cos: float = 0.0
    lexical: float = 0.0
    anchored: float = 0.0
    dense: float = 0.0
    typed: float = 0.0

    @property
    def text(self) -> str:
        """The sentence; a headline-only brief has no body, so its headline stands in."""
        return self.article.body[self.start:self.end] if self.article.body else self.article.title


def _is_english(text: str) -> bool:
    return not re.search(r"[\u4e00-\u9fff]", text)


def _candidates(hits: Sequence[Hit], embedder: Any | None, preferred: Sequence[str],
                index: Any) -> list[_Sent]:
    """Whole sentences of the hit passages (and of preferred articles), each once, with its best hit."""
    out: dict[tuple[str, int], _Sent] = {}
    for hit in hits:
        if not hit.article.body:  # a headline-only brief: citable by its headline
            out.setdefault((hit.article.id, 0), _Sent(hit.article, 0, 0, 0, hit, None))
            continue
        spans, vectors = _sentences(hit.article, embedder, index)
        for i, (s, e) in enumerate(spans):
            if s < hit.passage.end and hit.passage.start < e and (hit.article.id, i) not in out:
                out[(hit.article.id, i)] = _Sent(hit.article, s, e, i, hit,
                                                 vectors[i] if vectors is not None else None)
    for aid in preferred:
        home = next((h for h in hits if h.article.id == aid), None)
        if home is None:
            continue  # not retrieved at all: the follow-up moved on
        spans, vectors = _sentences(home.article, embedder, index)
        for i, (s, e) in enumerate(spans):
            out.setdefault((aid, i), _Sent(home.article, s, e, i, home,
                                           vectors[i] if vectors is not None else None))
    return list(out.values())


def _idf(terms: Sequence[str], holders: list[set[str]]) -> tuple[dict[str, float], float]:
    """IDF weight of each term over the candidates holding it, and the weights' sum (never 0)."""
    n = len(holders)
    weights = {t: math.log(1.0 + n / (1.0 + sum(t in h for h in holders))) for t in terms}
    return weights, sum(weights.values()) or 1.0


def _score(sents: list[_Sent], question: str, kind: str, qvec: np.ndarray | None,
           preferred: Sequence[str]) -> None:
    terms = question_terms(question)
    for s in sents:
        s.norm = normalize(s.text)
    # For ranking, a term of an article's title counts as present in every sentence of that
    # article: its sentences are all about that topic, even where they say "本鱼" or "小镇".
    # Otherwise the lead sentence, which names the topic, wins over the one that answers.
    titles = {s.article.id: normalize(s.article.title) for s in sents}
    own = [{t for t in terms if t in s.norm} for s in sents]
    topical = [held | {t for t in terms if t in titles[s.article.id]} for s, held in zip(sents, own)]
    weights, total = _idf(terms, own)
    topic_weights, topic_total = _idf(terms, topical)
    best_hit = max((s.hit.score for s in sents), default=1.0) or 1.0
    units = unit_hint(question)
    qc = compact(normalize(question))
    near = anchors(question)
    # A question that names its unit ("多长", "多少钱") is answered only where such a figure is.
    type_boost = 2.0 if kind == QUANTITY and units else 1.0
    for s, held in zip(sents, own):
        s.lexical = sum(weights[t] for t in held) / total
        s.anchored = sum(a in s.norm for a in near) / len(near) if near else 0.0
        if qvec is not None and s.vector is not None:
            s.cos = float(s.vector @ qvec)
        elif qvec is not None and not s.article.body and s.hit.dense is not None:
            s.cos = s.hit.dense  # the brief's passage vector is its headline's
    top_cos = max((s.cos for s in sents), default=0.0)
    for s, held_topical in zip(sents, topical):
        # Relative to the best candidate: e5 cosines sit in a narrow band (~0.70-0.80 across
        # languages, ~0.80-0.95 within Chinese), so only the distance to the best one ranks.
        s.dense = min(max(1.0 - (top_cos - s.cos) / 0.1, 0.0), 1.0) if qvec is not None else 0.0
        if kind not in (OTHER, REASON, YESNO, WHAT):
            strengths = [c.strength for c in find_candidates(s.norm, kind, units=units)
                         if compact(s.norm[c.start:c.end]) not in qc and c.strength >= 0.6]
            s.typed = min(max(strengths, default=0.0), 1.0)
        w = SCORE_WEIGHTS
        lexical_topical = sum(topic_weights[t] for t in held_topical) / topic_total
        s.score = (w["lexical"] * lexical_topical + w["dense"] * s.dense
                   + w["passage"] * max(s.hit.score, 0.0) / best_hit + w["type"] * type_boost * s.typed
                   + w["anchor"] * s.anchored
                   + (w["preferred"] if s.article.id in preferred else 0.0))


def _window(best: _Sent, pool: dict[tuple[str, int], _Sent], spans: list[tuple[int, int]]) -> tuple[int, int]:
    """The best sentence and its better-scoring neighbour when both fit in EXTRACT_CHARS."""
    s, e = best.start, best.end
    options = []
    for j in (best.index - 1, best.index + 1):
        if 0 <= j < len(spans):
            a, b = spans[j]
            lo, hi = min(s, a), max(e, b)
            if hi - lo <= EXTRACT_CHARS and "\n" not in best.article.body[lo:hi].strip():
                neighbour = pool.get((best.article.id, j))
                options.append((neighbour.score if neighbour else 0.0, -j, lo, hi))
    if options:
        _, _, s, e = max(options)
    return s, e


# Generic nouns a question uses for its own form ("什么时候", "哪个国家", "哪些方面").
# and category nouns whose value, not the word, is what a text states ("职业是什么" is answered
# by "足球运动员": the word "职业" need not occur).
_GENERIC_NOUNS = set(
    "时候 时间 地方 方面 情况 问题 内容 名字 位置 原因 目的 单位 国家 称号 全市 现在 目前 今年 每年 城市 方式 作用 "
    "职业 职务 身份 国籍 民族 少数民族 特征 特点 优势 地址 名称 全称 简称 别名 原名 信息 外形 地理位置 出生地 生活习性 "
    "习性 类型 种类 功能 用途 意思 含义 意义 影响 关系 性别 年代 朝代 地点 结局 材料 成分 风格 题材 形状 颜色 背景 "
    "线路 站点 区域 领域 部分 结构 方法 过程 结果 经历 成就 贡献 评价 定义 概念 来源 由来 组成".split()
)
_WH_CHARS = re.compile(r"[多几哪那这怎么什啥谁吗呢]")


def missing_terms(question: str, hits: Sequence[Hit]) -> list[tuple[str, float]]:
    """Content nouns of the question (2+ Han chars) that none of the hit articles uses.

    A noun the retrieved articles never use ("门票", "冠军", "投产") is the strongest sign that
    the edition does not say what the question asks. Verbs are left out (questions paraphrase
    them: "举办" for "举行"), and so are the nouns right after a question word ("哪个国家").
    Returns (word, factor) pairs: the confidence is multiplied by each factor.
    """
    from jieba import posseg

    if _is_english(question):
        return []  # an English question's words are never in a Chinese edition
    text = "".join(normalize(h.article.title + h.article.body) for h in hits)
    out: list[str] = []
    after_wh = False
    for w in posseg.cut(normalize(question)):
        word, flag = w.word, w.flag
        if _WH_CHARS.search(word) or flag == "r":
            after_wh = True
            continue
        if after_wh and len(word) == 1:
            continue  # the measure word of "哪支队伍": the noun after it is still the question's
        salient = (flag[:1] in ("n", "t", "l", "m") or flag == "vn") and len(word) >= 2
        if flag == "eng" and len(word) >= 2 and not after_wh and word not in text:
            out.append((word, 0.5))  # "gdp", "ceo"
        elif (salient and not after_wh and re.fullmatch(r"[\u4e00-\u9fff]+", word)
                and word not in _GENERIC_NOUNS and word not in text):
            # Nouns weigh most; verbal nouns and idioms are often paraphrased ("合作开发").
            out.append((word, 0.8 if flag in ("vn", "l") else 0.5))
        after_wh = False
    return out


def _confidence(best: _Sent, english: bool, kind: str, has_short: bool, missing: Sequence[float]) -> float:
    """How sure the first extract answers: lexical + dense evidence, a typed span when one is
    asked for, and no question word unknown to the retrieved articles."""
    if english:
        # Cross-language cosines are lower and there is no lexical evidence: only the cosine speaks.
        evidence = 0.3 + (best.cos - 0.725) * 5.0
    else:
        evidence = 0.7 * best.lexical + 0.3 * min(max((best.cos - 0.75) / 0.2, 0.0), 1.0) + 0.1
    if kind not in (OTHER, REASON, YESNO, WHAT):
        evidence *= 1.0 if has_short else 0.5
    evidence *= math.prod(missing)
    return round(min(max(evidence, 0.0), 1.0), 4)


# ----------------------------------------------------------------------------- ask


def _query_vector(index: Any, question: str) -> np.ndarray | None:
    embedder = getattr(index, "embedder", None)
    if embedder is None:
        return None
    return embedder.embed_queries([question])[0]


def _retrieve(question: str, *, qvec: np.ndarray | None, **options: Any) -> list[Hit]:
    """retrieve(), handing it the question vector already computed when it accepts one
    (saves a second query embedding: ~10 ms of the 50 ms budget)."""
    import inspect

    from qa.retrieve import retrieve

    if qvec is not None and "query_vector" in inspect.signature(retrieve).parameters:
        return retrieve(question, query_vector=qvec, **options)
    return retrieve(question, **options)


def _short_span(best: _Sent, extract: str, lo: int, question: str, kind: str) -> tuple[int, int] | None:
    """The short answer's span in `extract`: looked for in the best sentence first, since the
    neighbour joined to it is context; in the whole extract when that sentence has none."""
    if best.article.body and (best.start, best.end) != (lo, lo + len(extract)):
        span = short_answer_span(best.text, question, kind=kind)
        if span is not None:
            return span[0] + best.start - lo, span[1] + best.start - lo
    return short_answer_span(extract, question, kind=kind)


def ask(question: str, *, index: Any = None, history: Sequence[HistoryItem] | None = None,
        k: int = 5, date: str | None = None, page: int | None = None) -> Answer:
    """Answer `question` from the index with cited extracts.

    Args:
        question: the question (Chinese or English); cut to MAX_QUESTION_CHARS.
        index: a `qa.index.Index`; None uses `qa.index.default_index()`.
        history: earlier Answers or question strings of the conversation, oldest first.
        k: passages retrieved.
        date, page: restrict retrieval to one edition date / page.
    Returns:
        An Answer: up to 3 citations best first, the short answer (a span of the first extract,
        or ""), confidence in [0, 1], and no_answer when the evidence is weak.
    Raises:
        QuestionError: the question is empty.
    """
    asked = cut_question(question)
    resolved = resolve_question(asked, history) or asked
    if index is None:
        from qa.index import default_index

        index = default_index()
    preferred = previous_articles(history) if resolved != asked else []
    embedder = getattr(index, "embedder", None) if SCORE_WEIGHTS["dense"] > 0 else None
    qvec = _query_vector(index, resolved) if embedder is not None else None
    hits = _retrieve(resolved, qvec=qvec, k=k, index=index, date=date, page=page)
    if not hits:
        return Answer(asked, resolved, no_answer=True)
    kind = answer_type(resolved)
    sents = _candidates(hits, embedder, preferred, index)
    _score(sents, resolved, kind, qvec, preferred)
    pool = {(s.article.id, s.index): s for s in sents}
    ranked = sorted(sents, key=lambda s: -s.score)

    citations: list[Citation] = []
    taken: list[tuple[str, int, int]] = []
    short = ""
    confidence = 0.0
    no_answer = False
    for s in ranked:
        if len(citations) == MAX_CITATIONS:
            break
        spans = _sentences(s.article, None)[0]
        lo, hi = _window(s, pool, spans) if not citations else (s.start, s.end)
        if any(aid == s.article.id and lo < b and a < hi for aid, a, b in taken):
            continue
        extract = s.article.body[lo:hi] if s.article.body else s.text
        highlight: tuple[int, int] | None = None
        if not citations:
            span = _short_span(s, extract, lo, resolved, kind)
            missing = missing_terms(resolved, hits)
            confidence = _confidence(s, _is_english(resolved), kind, span is not None, [f for _, f in missing])
            no_answer = confidence < NO_ANSWER_THRESHOLD
            if span and not no_answer:
                short = extract[span[0]:span[1]]
                highlight = span
            elif not no_answer:
                highlight = best_clause(extract, resolved)
        else:
            highlight = best_clause(extract, resolved) if not no_answer else None
        citations.append(Citation(len(citations) + 1, s.article, extract, lo, hi, highlight,
                                  round(s.score, 4)))
        taken.append((s.article.id, lo, hi))
    return Answer(asked, resolved, short, tuple(citations), confidence, no_answer, tuple(hits))
