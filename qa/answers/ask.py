"""Cited answers read from the passages: short answer, the sentence holding it, no-answer.

Flow of `ask`: resolve a follow-up against the history (`qa.answers.followup`: the rules'
rewrite, or when that gets no answer the most confident of the other candidate rewrites), retrieve passages
(`qa.search.retrieve`), and let the trained reader (`qa.models.reader`) read the best READ_K of them with the
question (the first alone when a span of it ranks at least the rank `edition-qa bench first-passage`
fitted, except for follow-ups). Every span it proposes has a margin: its score minus the no-answer score of its
passage. Then:
- the short answer is the span with the highest rank: its margin less a length prior fitted on
  dev data (`edition-qa bench length-prior`, stored in reader.json), plus a weight times how far
  its passage's fused retrieval score is below the best one read (`edition-qa bench
  retrieval-weight`); a passage of an article the previous answer cited gets PREFERRED_BONUS, so
  a follow-up stays on its topic;
- the first citation is the sentence(s) of the article holding that span, highlight = the span;
  up to two more citations come from the best spans of other passages, never overlapping, their
  span highlighted only where its margin is positive (the reader scored it as an answer);
- confidence = sigmoid(bias + weights . answer_features(...)) (the best margin, retrieval scores of
  its passage, question numbers its article lacks), fitted on dev data (`edition-qa bench calibrate`,
  stored in reader.json); below the threshold stored with it the answer is no_answer, the short
  answer is empty and the citations are related reading without highlight;
- the hits are re-ordered by what the reader found (passages read, best-ranked span first, then
  the rest in retrieval order).
Every word of an Answer is a substring of the edition.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from qa.answers.followup import HistoryItem, candidate_questions, history_questions, previous_articles
from qa.errors import QuestionError
from qa.language.english import english_rendering
from qa.language.translate import coverage_terms, holds, question_language
from qa.models.reader import get_reader
from qa.models.spans import Reading, Span
from qa.text import has_han, normalize, question_terms, split_sentences
from qa.types import Answer, Article, Citation, Hit

__all__ = ["ask", "warm", "answer_features", "confidence_from", "cut_question", "first_passage_rank",
           "no_answer_settings", "rate_readings", "read_hits", "reading_question", "retrieval_weight", "span_order",
           "ANSWER_FEATURES", "MAX_QUESTION_CHARS", "READ_K"]

# A question longer than this is cut (the UI says so); retrieval and the reader cut further.
MAX_QUESTION_CHARS = 1000
# Passages the reader reads per question (see README "How answers are chosen" for the measurement).
READ_K = 3
MAX_CITATIONS = 3
# Added to the margin of spans in articles the previous answer cited (follow-ups only).
PREFERRED_BONUS = 1.0
# Used until a calibration has been written into reader.json: margin > 0 answers.
_DEFAULT_CALIBRATION = {"scale": 1.0, "bias": 0.0, "threshold": 0.5}


def cut_question(question: object) -> str:
    """The question stripped and cut to MAX_QUESTION_CHARS; QuestionError when empty or not text."""
    if not isinstance(question, str):
        raise QuestionError("The question must be text.")
    text = question.strip()
    if not text:
        raise QuestionError("The question is empty: type a question about the edition.")
    return text[:MAX_QUESTION_CHARS].strip()


def no_answer_settings(reader: Any, lang: str = "zh") -> dict[str, Any]:
    """The reader's calibration: confidence = sigmoid(bias + weights . features), or sigmoid(scale x
    margin + bias) without weights; answered above threshold. English questions read over Chinese
    text have their own ("no_answer_en", fitted on dictionary-glossed questions: the reader's
    margins run lower for them), falling back to the Chinese one until it is fitted."""
    own = reader.config.get("no_answer_en") if lang == "en" else None
    return {**_DEFAULT_CALIBRATION, **(own or reader.config.get("no_answer") or {})}


def confidence_of(margin: float, calibration: dict[str, float]) -> float:
    z = calibration["scale"] * margin + calibration["bias"]
    return 1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0)))


# What the no-answer calibrator may weigh (`edition-qa bench calibrate` fits a weight for each).
ANSWER_FEATURES = ("margin", "runner_up", "null", "dense", "fused", "terms_passage", "terms_article",
                   "numbers_missing", "top_dense", "top_fused", "covered")
_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?")


def answer_features(question: str, hits: Sequence[Hit], readings: Sequence[Reading],
                    bonus: Sequence[float] | None = None, asked: str | None = None) -> dict[str, float]:
    """What the pipeline knows about how well `question` is answered by the passages read:
    the best margin (with any follow-up bonus) and the best margin of the other passages, the
    no-answer score, dense and fused retrieval scores of the best passage, the share of the
    question's terms in that passage and in its article, the share of its numbers (years,
    amounts) its article lacks, the dense and fused scores of the first hit (how close the
    edition comes to the question at all, wherever the answer is read), and the share of the
    question's terms as `asked` (`qa.language.translate.coverage_terms`: an English term counts
    when any of its dictionary candidates is printed) that the best passage or its headline holds.
    `question` is the question as read (for English, its Chinese terms chosen by the passages)."""
    bonus = bonus or [0.0] * len(hits)
    margins = [(r.margin + bonus[r.passage], r) for r in readings if r.spans or r.best is not None]
    if not margins:
        return {name: 0.0 for name in ANSWER_FEATURES} | {"margin": -50.0, "runner_up": -50.0}
    top = hits[0]
    margins.sort(key=lambda m: -m[0])
    best, reading = margins[0]
    hit = hits[reading.passage]
    passage = normalize(_passage_text(hit))
    article = normalize(" ".join([hit.article.title, hit.article.body]))
    terms = question_terms(question)
    numbers = set(_NUMBER.findall(normalize(question)))
    groups = coverage_terms(asked or question)
    shown = normalize(" ".join([hit.article.title, _passage_text(hit)]))
    return {
        "margin": best,
        "runner_up": margins[1][0] if len(margins) > 1 else -50.0,
        "null": reading.null,
        "dense": hit.dense if hit.dense is not None else 0.0,
        "fused": hit.score,
        "terms_passage": sum(t in passage for t in terms) / len(terms) if terms else 0.0,
        "terms_article": sum(t in article for t in terms) / len(terms) if terms else 0.0,
        "numbers_missing": sum(n not in article for n in numbers) / len(numbers) if numbers else 0.0,
        "top_dense": top.dense if top.dense is not None else 0.0,
        "top_fused": top.score,
        "covered": sum(holds(shown, g) for g in groups) / len(groups) if groups else 0.0,
    }


def confidence_from(features: dict[str, float], calibration: dict[str, Any]) -> float:
    """The calibrated probability that an answer is there: a logistic model over the features
    when the calibration has weights, else over the best margin alone."""
    weights = calibration.get("weights")
    if not weights:
        return confidence_of(features["margin"], calibration)
    z = calibration.get("bias", 0.0) + sum(w * features[name] for name, w in weights.items())
    return 1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0)))


def warm(index: Any = None, *, progress: bool = False) -> int:
    """Load the reader and the dictionary and read once, so the first question is answered at full speed;
    returns the number of passages in the index."""
    from qa.language.cedict import get_dictionary

    reader = get_reader()
    reader.read("warm up", ["The reader reads this once."])
    get_dictionary()  # opened (built and stored on a machine's first use, about 2 s), not at the first English question
    return len(index) if index is not None else 0


def _passage_text(hit: Hit) -> str:
    """What the reader reads for a hit: its passage, or the headline of a headline-only brief."""
    return hit.passage.text or hit.article.title


def _extract(article: Article, start: int, end: int) -> tuple[int, int]:
    """The whole sentences of the article body that chars [start, end) fall in."""
    spans = split_sentences(article.body)
    inside = [(a, b) for a, b in spans if a < end and start < b]
    if not inside:
        return start, end
    return inside[0][0], inside[-1][1]


def _citation(n: int, hit: Hit, span: Span, *, highlight: bool) -> Citation:
    article = hit.article
    if not hit.passage.text:  # a brief: the span is in its headline, which is the extract
        return Citation(n, article, article.title, 0, 0,
                        (span.start, span.end) if highlight else None, round(span.margin, 4))
    a, b = hit.passage.start + span.start, hit.passage.start + span.end
    lo, hi = _extract(article, a, b)
    return Citation(n, article, article.body[lo:hi], lo, hi, (a - lo, b - lo) if highlight else None,
                    round(span.margin, 4))


def reading_question(question: str, hits: Sequence[Hit]) -> tuple[str, str]:
    """The question as the reader reads it over `hits`, and the pairing it is calibrated for:
    ("en") an English question over Chinese passages, read as its dictionary terms in Chinese,
    chosen by what the passages print (`qa.language.translate`); otherwise ("zh") as asked."""
    from qa.language.translate import question_language, translate_question

    texts = [_passage_text(h) for h in hits[:READ_K]]
    if question_language(question) != "en" or not any(has_han(t) for t in texts):
        return question, "zh"
    translation = translate_question(question)
    if not translation.known:
        return question, "en"
    return translation.reader_question(texts), "en"


def read_hits(question: str, hits: Sequence[Hit], reader: Any) -> list[Reading]:
    """The reader's readings of the best READ_K hits (a brief is read by its headline); an
    English question over Chinese text is read in its Chinese terms (`reading_question`)."""
    read_as, pairing = reading_question(question, hits)
    return reader.read(read_as, [_passage_text(h) for h in hits[:READ_K]], lang=pairing)


def _bonus(hit: Hit, preferred: Sequence[str]) -> float:
    return PREFERRED_BONUS if hit.article.id in preferred else 0.0


def retrieval_weight(reader: Any) -> float:
    """How much a passage's fused retrieval score counts in a span's rank (reader.json, fitted by
    `edition-qa bench retrieval-weight`; 0 until fitted)."""
    return float((reader.config.get("retrieval_weight") or {}).get("weight", 0.0))


def span_order(spans: Sequence[Span], fused: Sequence[float], weight: float) -> list[Span]:
    """`spans` best first by rank + weight x (their passage's fused score - the best fused score
    read): the reader's margins alone compare poorly across passages, retrieval breaks the tie."""
    top = max(fused, default=0.0)
    return sorted(spans, key=lambda s: -(s.rank + weight * (fused[s.passage] - top)))


def _ranked_spans(readings: Sequence[Reading], hits: Sequence[Hit], preferred: Sequence[str],
                  weight: float = 0.0) -> list[Span]:
    """Every span read, best first (with the follow-up bonus folded in)."""
    out = []
    for r in readings:
        bonus = _bonus(hits[r.passage], preferred)
        out += [Span(s.passage, s.start, s.end, s.text, s.score, s.margin + bonus, s.prior) for s in r.spans]
    return span_order(out, [h.score for h in hits], weight)


def _reordered(hits: Sequence[Hit], ranked: Sequence[Span]) -> tuple[Hit, ...]:
    order: list[int] = []
    for s in ranked:
        if s.passage not in order:
            order.append(s.passage)
    order += [i for i in range(len(hits)) if i not in order]
    return tuple(hits[i] for i in order)


@dataclass(frozen=True)
class _Read:
    """One question retrieved and read as `ask` does, before the answer is put together."""

    question: str
    hits: tuple[Hit, ...]
    read_as: str
    pairing: str
    ranked: tuple[Span, ...]
    calibration: dict[str, Any]
    confidence: float

    @property
    def answered(self) -> bool:
        """Whether the confidence reaches the calibration's threshold."""
        return self.confidence >= self.calibration.get("threshold", _DEFAULT_CALIBRATION["threshold"])


def first_passage_rank(reader: Any) -> float | None:
    """The rank (margin less length prior) at which a span of the first passage answers without
    the others being read (reader.json, fitted by `edition-qa bench first-passage`; None: all
    READ_K passages are read)."""
    fitted = (reader.config.get("first_passage") or {}).get("rank")
    return float(fitted) if fitted is not None else None


def rate_readings(question: str, hits: Sequence[Hit], read_as: str, pairing: str, readings: Sequence[Reading],
                  reader: Any, preferred: Sequence[str] = ()) -> _Read:
    """`question` as `ask` rates it from the readings of its best READ_K hits: every span read,
    best first, the no-answer calibration of `pairing`, and the confidence that the best span
    answers (0 when no span was read)."""
    read = hits[:READ_K]
    ranked = _ranked_spans(readings, read, preferred, retrieval_weight(reader))
    calibration = no_answer_settings(reader, pairing)
    if not ranked:
        return _Read(question, tuple(hits), read_as, pairing, (), calibration, 0.0)
    # how sure the reader is that an answer is there: the best margin (before the length prior)
    # and what retrieval found, weighed as `edition-qa bench calibrate` fitted them
    features = answer_features(read_as, read, readings, [_bonus(h, preferred) for h in read], asked=question)
    confidence = round(confidence_from(features, calibration), 4)
    return _Read(question, tuple(hits), read_as, pairing, tuple(ranked), calibration, confidence)


def _read_question(question: str, index: Any, reader: Any, preferred: Sequence[str],
                   filters: dict[str, Any], k: int) -> _Read:
    """Retrieve `question`, read the best READ_K passages (the first alone when it answers surely;
    all of them for a follow-up, whose previous articles may win) and rate the best span."""
    from qa.search.retrieve import retrieve

    hits = retrieve(question, k=max(k, READ_K), index=index, **filters)
    if not hits:
        return _Read(question, (), question, "zh", (), {}, 0.0)
    read = hits[:READ_K]
    read_as, pairing = reading_question(question, read)
    readings = reader.read(read_as, [_passage_text(h) for h in read], lang=pairing,
                           first_alone=None if preferred else first_passage_rank(reader))
    return rate_readings(question, hits, read_as, pairing, readings, reader, preferred)


def ask(question: str, *, index: Any = None, history: Sequence[HistoryItem] | None = None,
        k: int = 5, date: str | None = None, page: int | None = None, reader: Any = None,
        since: str | None = None, until: str | None = None) -> Answer:
    """Answer `question` from the index with a short answer and cited extracts.

    Args:
        question: the question (Chinese or English); cut to MAX_QUESTION_CHARS.
        index: a `qa.store.index.Index`; None uses `qa.store.index.default_index()`.
        history: earlier Answers or question strings of the conversation, oldest first. A
            follow-up is read as the rules rewrite it; when that gets no answer, its other
            candidate rewrites (`candidate_questions`) are read and the most confident one
            kept if it gets an answer.
        k: passages retrieved; the reader reads the best READ_K of them.
        date, page: restrict retrieval to one edition date / page.
        since, until: restrict retrieval to an inclusive range of edition dates (ISO).
        reader: a `qa.models.reader.Reader`; None uses the shipped one.
    Returns:
        An Answer: up to 3 citations best first, the short answer (a span of the first extract,
        or "" when no_answer), confidence in [0, 1], and the hits in the order the reader ranked them.
    Raises:
        QuestionError: the question is empty.
        InputError: `since`/`until` is not a date, or since > until.
    """
    asked = cut_question(question)
    candidates = candidate_questions(asked, history) if history else [asked]
    if index is None:
        from qa.store.index import default_index

        index = default_index()
    from qa.store.live import snapshot

    index = snapshot(index)  # a LiveIndex: one version for the whole question
    reader = reader if reader is not None else get_reader()
    filters = {"date": date, "page": page, "since": since, "until": until}
    preferred = previous_articles(history) if candidates[0] != asked else []
    chosen = _read_question(candidates[0], index, reader, preferred, filters, k)
    if not chosen.answered and history and candidates[0] != asked and not preferred:
        # questions alone as history (the API): the previous question's best article stands
        # for the article its answer cited
        from qa.search.retrieve import retrieve

        top = retrieve(history_questions(history)[-1], k=1, index=index, **filters)
        if top:
            preferred = [top[0].article.id]
            candidates = candidate_questions(asked, history, headline=top[0].article.title)
    if len(candidates) > 1 and not chosen.answered:
        # the rules' rewrite gets no answer: the other readings of the follow-up may
        others = [_read_question(c, index, reader, preferred, filters, k) for c in candidates[1:]]
        better = max(others, key=lambda o: o.confidence)  # the first of equals
        if better.answered:
            chosen = better
    resolved, hits, ranked = chosen.question, chosen.hits, chosen.ranked
    if not hits:
        return Answer(asked, resolved, no_answer=True)
    read = hits[:READ_K]
    if not ranked:
        return Answer(asked, resolved, no_answer=True, hits=tuple(hits[:k]))
    best = ranked[0]
    confidence = chosen.confidence
    no_answer = not chosen.answered
    citations: list[Citation] = []
    used: set[int] = set()
    for span in ranked:
        if len(citations) == MAX_CITATIONS:
            break
        if span.passage in used:
            continue
        # the first citation holds the short answer; the others are marked only where the reader
        # scored their span as an answer (above its passage's no-answer score)
        marked = not no_answer and (not citations or span.margin > 0)
        cite = _citation(len(citations) + 1, read[span.passage], span, highlight=marked)
        if any(c.article.id == cite.article.id and c.start < cite.end and cite.start < c.end
               and c.extract for c in citations):
            continue
        used.add(span.passage)
        citations.append(cite)
    hits_out = _reordered(read, ranked) + tuple(hits[READ_K:])
    short = "" if no_answer else best.text
    english = english_rendering(short) if short and question_language(asked) == "en" else ""
    read_as = chosen.read_as
    return Answer(asked, resolved, short, tuple(citations), confidence, no_answer, hits_out,
                  reading=read_as if read_as != resolved else "", english=english)
