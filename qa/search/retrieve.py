"""Hybrid retrieval: dense (FAISS) and lexical (FTS5/BM25) candidates, fused into ranked hits.

Two stages: `fuse` scores each candidate from its cosine and BM25; `rerank` re-orders the
fused top RERANK_DEPTH by how well each passage covers the question's terms (`qa.search.rerank`).
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from qa.editions.chunk import passage_id
from qa.errors import InputError, QuestionError
from qa.language.translate import lexical_question, question_language
from qa.types import Hit, Passage

# e5 reads at most 512 tokens and an FTS query of hundreds of terms is slow and unfocused;
# a question longer than this is cut at the last sentence or clause break before it.
MAX_QUESTION_CHARS = 300
_BREAK = re.compile(r"[。！？；!?;.,，、\s]")


def clean_question(question: object) -> str:
    """The question stripped and cut to MAX_QUESTION_CHARS; QuestionError when empty."""
    if not isinstance(question, str):
        raise QuestionError("The question must be text.")
    text = " ".join(question.split())
    if not text:
        raise QuestionError("The question is empty: type a question about the edition.")
    if len(text) > MAX_QUESTION_CHARS:
        head = text[:MAX_QUESTION_CHARS]
        cuts = [m.end() for m in _BREAK.finditer(head)]
        cut = cuts[-1] if cuts and cuts[-1] > MAX_QUESTION_CHARS // 2 else MAX_QUESTION_CHARS
        text = head[:cut].strip()
    return text


@dataclass(frozen=True)
class Candidate:
    """A passage found by either side, with the exact dense score and BM25 (None: no match).

    `hub` is the passage's mean cosine to content-free probe questions (see PROBES).
    """

    id: int
    dense: float
    lexical: float | None
    dense_rank: int | None  # 0-based rank on the dense side; None when outside its list
    lexical_rank: int | None
    hub: float = 0.0


# Content-free questions. A passage close to all of them (a short headline-only brief, a
# generic lead) is a "hub" that tops the dense list for any weakly matching question, e.g.
# an English one over Chinese text; subtracting its mean probe similarity (as CSLS does for
# cross-lingual retrieval) lets the passage that is about the question win.
PROBES = (
    "What is it?", "Who is it?", "How many?", "When did it happen?", "Where is it?",
    "What happened?", "这是什么？", "是谁？", "有多少？", "什么时候？", "在哪里？", "发生了什么？",
)
_probe_cache: dict[int, tuple[Any, np.ndarray]] = {}
_probe_lock = threading.Lock()


def _probe_vectors(embedder: Any) -> np.ndarray:
    with _probe_lock:
        cached = _probe_cache.get(id(embedder))
        if cached is None or cached[0] is not embedder:
            cached = (embedder, np.asarray(embedder.embed_queries(list(PROBES)), dtype=np.float32))
            _probe_cache[id(embedder)] = cached
        return cached[1]


_query_cache: OrderedDict[tuple[int, str], tuple[Any, np.ndarray]] = OrderedDict()
_QUERY_CACHE_SIZE = 256


def _query_vector(embedder: Any, text: str) -> np.ndarray:
    """The question's vector; recent ones are cached (a chat turn often retrieves twice)."""
    key = (id(embedder), text)
    with _probe_lock:
        hit = _query_cache.get(key)
        if hit is not None and hit[0] is embedder:  # ids of dead objects get reused
            _query_cache.move_to_end(key)
            return hit[1]
    vec = np.asarray(embedder.embed_queries([text])[0], dtype=np.float32)
    with _probe_lock:
        _query_cache[key] = (embedder, vec)
        while len(_query_cache) > _QUERY_CACHE_SIZE:
            _query_cache.popitem(last=False)
    return vec


def fusion_settings(index: Any, question: str, fusion: dict[str, Any] | None = None) -> dict[str, Any]:
    """The index's fusion settings for `question`, updated with `fusion`: an English question
    weighs the dense side by "dense_weight_en" (its lexical side asks for dictionary candidates,
    right or not) unless `fusion` names a dense_weight itself."""
    settings = {**index.settings["fusion"], **(fusion or {})}
    if "dense_weight_en" in settings and "dense_weight" not in (fusion or {}) and question_language(question) == "en":
        settings["dense_weight"] = settings["dense_weight_en"]
    return settings


def _minmax(values: np.ndarray) -> np.ndarray:
    lo, hi = float(values.min()), float(values.max())
    return (values - lo) / (hi - lo) if hi > lo else np.ones_like(values)


def fuse(cands: Sequence[Candidate], fusion: dict[str, Any]) -> list[tuple[int, float]]:
    """Fused (id, score) best first.

    The dense score used is cosine - hub_weight x hub. Methods: "dense", "lexical",
    "rrf" (1/(rrf_k + rank) summed), "weighted" (dense_weight x min-max(dense) +
    (1 - dense_weight) x BM25 / best BM25). When the lexical side matched nothing every
    method is the dense order, so it cannot drag the dense result down.
    """
    if not cands:
        return []
    method = fusion.get("method", "weighted")
    ids = [c.id for c in cands]
    dense = np.array([c.dense - float(fusion.get("hub_weight", 0.0)) * c.hub for c in cands],
                     dtype=np.float64)
    lex = np.array([c.lexical or 0.0 for c in cands], dtype=np.float64)
    if method == "lexical" and lex.max() > 0:
        score = lex + 1e-6 * dense  # ties (and unmatched passages) broken by the dense score
    elif method == "rrf" and lex.max() > 0:
        k = float(fusion.get("rrf_k", 60))
        score = np.array([
            (1.0 / (k + c.dense_rank + 1) if c.dense_rank is not None else 0.0)
            + (1.0 / (k + c.lexical_rank + 1) if c.lexical_rank is not None else 0.0)
            for c in cands])
        score += 1e-9 * dense
    elif method == "weighted" and lex.max() > 0:
        w = float(fusion.get("dense_weight", 0.5))
        score = w * _minmax(dense) + (1.0 - w) * lex / lex.max()
    else:
        score = dense
    order = np.argsort(-score, kind="stable")
    return [(ids[i], float(score[i])) for i in order]


def date_range(since: str | None, until: str | None) -> tuple[str | None, str | None]:
    """`since`/`until` checked as ISO dates (None or "": open); InputError when bad or reversed."""
    import datetime as dt

    def check(name: str, value: str | None) -> str | None:
        try:
            return dt.date.fromisoformat(value.strip()).isoformat() if value and value.strip() else None
        except (ValueError, AttributeError):
            raise InputError(f"{name} must be a date (YYYY-MM-DD), not {value!r}") from None

    low, high = check("since", since), check("until", until)
    if low and high and low > high:
        raise InputError(f"the date range is empty: since {low} is after until {high}")
    return low, high


def candidates(index: Any, question: str, *, depth: int, date: str | None = None,
               page: int | None = None, article_id: str | None = None,
               query_vector: np.ndarray | None = None, since: str | None = None,
               until: str | None = None, lexical_text: str | None = None) -> list[Candidate]:
    """The union of the top `depth` dense and lexical passages, each with both scores
    (`lexical_text`: what the lexical side is asked instead of the question)."""
    where = {k: v for k, v in {"date": date, "page": page, "article_id": article_id, "since": since,
                               "until": until}.items() if v is not None}
    by_expr = getattr(index.vectors, "takes_filters", False)  # Milvus: filter expressions, not ids
    allowed = index.store.passage_ids(**where) if where and not by_expr else None
    if where and not by_expr and not allowed:
        return []
    lexical = index.store.search(lexical_text or question, limit=depth, **where)
    if query_vector is None:
        query_vector = _query_vector(index.embedder, question)
    dense = index.vectors.search(query_vector, depth, **(where if by_expr else {"ids": allowed}))
    dense_rank = {pid: r for r, (pid, _) in enumerate(dense)}
    dense_score = dict(dense)
    lex_rank = {int(pid): r for r, (pid, _) in enumerate(lexical)}
    lex_score = {int(pid): float(s) for pid, s in lexical}
    missing = [pid for pid in lex_score if pid not in dense_score]
    ids = list(dense_rank) + missing
    if not ids:
        return []
    # Exact cosine for lexical-only candidates (so fusion compares like with like), and the
    # hubness of every candidate; a few hundred dot products.
    vecs = index.vectors.vectors(ids)
    dense_score.update(zip(missing, (vecs[len(dense_rank):] @ query_vector).tolist()))
    hub = (vecs @ _probe_vectors(index.embedder).T).mean(axis=1).tolist()
    return [Candidate(pid, float(dense_score[pid]), lex_score.get(pid), dense_rank.get(pid),
                      lex_rank.get(pid), h) for pid, h in zip(ids, hub)]


def _without_overlap(passage: Passage, chosen: Sequence[Passage]) -> Passage | None:
    """`passage` minus the sentences it shares with better passages of its article.

    Neighbouring passages share one sentence by design; returning it twice reads as a
    near-duplicate, while dropping the whole passage cost 2.7 points of R@5 on CMRC dev
    (the answer is often in the part that is new). None when little new text remains.
    """
    start, end = passage.start, passage.end
    for other in chosen:
        if other.article_id != passage.article_id or other.end <= start or end <= other.start:
            continue
        if other.start <= start < other.end < end:
            start = other.end  # shares our first sentence(s)
        elif start < other.start < end <= other.end:
            end = other.start  # shares our last sentence(s)
        else:
            return None  # inside, or around, a better passage
    if (start, end) == (passage.start, passage.end):
        return passage
    text = passage.text[start - passage.start:end - passage.start]
    start += len(text) - len(text.lstrip())
    text = text.strip()
    end = start + len(text)
    if len(text) < 0.3 * len(passage.text):
        return None
    return Passage(passage_id(passage.article_id, start, end), passage.article_id, start, end, text)


# Score margin (the fused 0..1 scale, re-ranking bonus included) within which an overlapping
# neighbour of a hit is joined to it. CMRC 2018 dev, 250-char passages, R@1 / mean top-1 chars,
# first stage only: off 0.951 / 211, 0.1 0.976 / 249, 0.15 0.979 / 274, 0.2 0.980 / 296
# (300-char passages unjoined: 0.958 / 254, so joining beats bigger chunks at equal length);
# with re-ranking: off 0.958, 0.1 0.976, 0.15 0.978. Off by default: the joins that re-ranking
# does not already make add ~60 chars to the average hit and cost extract quality (CMRC, every
# 8th question: extract_hit@1 0.864 -> 0.856 at 0.15).
MERGE_GAP = 0.0


def _merged(passage: Passage, score: float, ranked: Sequence[tuple[int, float]], start: int,
            index: Any, body: str, gap: float) -> Passage:
    """`passage` joined with the best later candidate that overlaps it and scores within `gap`.

    On CMRC 2018 dev most top-1 misses are a tie between two overlapping neighbours of the
    right article (the answer on one side of the shared sentence, the question's terms on
    the other); the union of both (about 1.5 passages) answers where either alone may not.
    """
    for pid, other_score in ranked[start:]:
        if score - other_score > gap:
            break
        other = index.store.passage(pid)
        if (other is None or other.article_id != passage.article_id
                or other.end < passage.start or passage.end < other.start):
            continue
        s, e = min(passage.start, other.start), max(passage.end, other.end)
        if (s, e) == (passage.start, passage.end) or not body:
            return passage
        return Passage(passage_id(passage.article_id, s, e), passage.article_id, s, e, body[s:e])
    return passage


def retrieve(question: str, *, k: int = 5, index: Any = None, date: str | None = None,
             page: int | None = None, article_id: str | None = None,
             fusion: dict[str, Any] | None = None,
             query_vector: np.ndarray | None = None, since: str | None = None,
             until: str | None = None) -> list[Hit]:
    """The `k` best passages for `question`: dense and lexical candidates fused, the top ones
    re-ranked by term coverage (fusion setting "rerank", on by default).

    Args:
        question: any text; cut to MAX_QUESTION_CHARS. QuestionError when empty.
        k: number of hits.
        index: an Index; None uses `qa.store.index.default_index()`.
        date, page, article_id: restrict both sides to these passages.
        since, until: an inclusive range of edition dates (ISO; InputError if bad or reversed).
        fusion: override the index's fusion settings (benchmarks).
        query_vector: the question's embedding when the caller already has it.
    Returns:
        Hits ranked 1..k. A hit whose overlapping neighbour scores almost as well (fusion
        setting "merge_gap", default MERGE_GAP; 0: off) spans both. Sentences already
        shown by a better passage of the same article are cut from a passage; little left, it
        is skipped. A joined or cut passage's id names its span (not a stored passage).
    """
    text = clean_question(question)
    since, until = date_range(since, until)
    if k <= 0:
        return []
    if index is None:
        from qa.store.index import default_index

        index = default_index()
    from qa.store.live import snapshot

    index = snapshot(index)  # a LiveIndex: one version for the whole question
    settings = fusion_settings(index, text, fusion)
    depth = max(int(settings.get("depth", 50)), 2 * k)
    terms = lexical_question(text, index.store.terms_from)
    cands = candidates(index, text, depth=depth, date=date, page=page, article_id=article_id,
                       query_vector=query_vector, since=since, until=until, lexical_text=terms)
    by_id = {c.id: c for c in cands}
    hits: list[Hit] = []
    chosen: list[Any] = []
    articles: dict[str, Any] = {}
    gap = float(settings.get("merge_gap", MERGE_GAP))
    ranked = fuse(cands, settings)
    if settings.get("rerank", True):
        ranked = rerank(index, text, cands, ranked, settings, articles)
    for n, (pid, score) in enumerate(ranked):
        passage = _without_overlap(index.store.passage(pid), chosen)
        if passage is None:
            continue
        if passage.article_id not in articles:
            articles[passage.article_id] = index.store.article(passage.article_id)
        if gap > 0:
            wider = _merged(passage, score, ranked, n + 1, index,
                            articles[passage.article_id].body, gap)
            if wider is not passage:  # the neighbour may reach into a better hit: cut that
                passage = _without_overlap(wider, chosen) or passage
        chosen.append(passage)
        c = by_id[pid]
        hits.append(Hit(passage, articles[passage.article_id], len(hits) + 1, score,
                        c.dense, c.lexical))
        if len(hits) == k:
            break
    return hits


# Candidates the second stage re-ranks (by fused score); the rest keep their order below them.
RERANK_DEPTH = 20


def _rerank_inputs(index: Any, question: str, cands: Sequence[Candidate],
                   ranked: Sequence[tuple[int, float]],
                   articles: dict[str, Any]) -> tuple[list[Candidate], np.ndarray, dict[int, Passage]]:
    """The top RERANK_DEPTH candidates, their `qa.search.rerank.features` rows and their passages."""
    from qa.editions.chunk import headline_text
    from qa.search.rerank import features

    by_id = {c.id: c for c in cands}
    top = [by_id[pid] for pid, _ in ranked[:RERANK_DEPTH]]
    passages = {p.id: p for p in index.store.passages([c.id for c in top])}
    top = [c for c in top if c.id in passages]
    for c in top:
        aid = passages[c.id].article_id
        if aid not in articles:
            articles[aid] = index.store.article(aid)
    titles = {aid: headline_text(a) for aid, a in articles.items() if a is not None}
    fused = dict(ranked)
    return top, features(question, top, fused, passages, titles), passages


def rerank(index: Any, question: str, cands: Sequence[Candidate],
           ranked: Sequence[tuple[int, float]], settings: dict[str, Any],
           articles: dict[str, Any] | None = None) -> list[tuple[int, float]]:
    """`ranked` with its top RERANK_DEPTH re-ordered by `qa.search.rerank` (see there).

    The re-ranked score is the fused score plus a bonus for covering the question's terms;
    the passages below the re-ranked ones keep their order, their scores capped at the lowest
    re-ranked one. When the lexical side matched nothing (an English question over Chinese
    text) there is nothing to cover and the dense order stays.
    """
    from qa.search.rerank import scores

    if len(ranked) < 2 or not any(c.lexical for c in cands):
        return list(ranked)
    top, x, _ = _rerank_inputs(index, question, cands, ranked, {} if articles is None else articles)
    s = scores(x, settings.get("rerank_weights"))
    head = sorted(((c.id, float(v)) for c, v in zip(top, s)), key=lambda t: -t[1])
    floor = head[-1][1] if head else 1.0
    return head + [(pid, min(score, floor)) for pid, score in ranked[len(top):]]


def rerank_lists(index: Any, items: Iterable[tuple[str, Sequence[str]]], *,
                 fusion: dict[str, Any] | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """(features, labels) of the re-ranked candidates of each question, for `qa.search.rerank.fit`.

    `items` are (question, answers) pairs; a candidate's label is 1 when its passage holds
    one of the answers (compacted).
    """
    from qa.text import compact

    out = []
    for question, answers in items:
        text = clean_question(question)
        settings = fusion_settings(index, text, fusion)
        golds = [compact(a) for a in answers if compact(a)]
        terms = lexical_question(text, index.store.terms_from)
        cands = candidates(index, text, depth=int(settings.get("depth", 50)), lexical_text=terms)
        articles: dict[str, Any] = {}
        top, x, passages = _rerank_inputs(index, text, cands, fuse(cands, settings), articles)
        texts = [passages[c.id].text or articles[passages[c.id].article_id].title for c in top]
        out.append((x, np.array([float(any(g in compact(t) for g in golds)) for t in texts])))
    return out


__all__ = ["Candidate", "MAX_QUESTION_CHARS", "MERGE_GAP", "RERANK_DEPTH", "candidates", "clean_question",
           "date_range", "fuse", "fusion_settings", "rerank", "rerank_lists", "retrieve"]
