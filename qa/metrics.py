"""Evaluation metrics as pure functions over per-question outcomes.

Names (`METRIC_NAMES`) are the ones used in tables and JSON. Gold matching follows the
question-set format: a gold answer matches a text when, after NFKC and removing all
whitespace, it is contained in it. Short answers are scored CMRC-style: NFKC, lowercase,
whitespace and punctuation removed, character-level F1, best over the gold answers.
"""

from __future__ import annotations

import math
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from qa.text import compact

NAN = float("nan")

METRIC_NAMES: tuple[str, ...] = (
    "article_hit@1",
    "article_hit@5",
    "passage_hit@1",
    "passage_hit@5",
    "mrr@10",
    "extract_hit@1",
    "extract_hit@3",
    "short_answer_exact",
    "short_answer_f1",
    "no_answer_accuracy",
    "false_no_answer_rate",
    "latency_ms_p50",
    "latency_ms_p95",
)


@dataclass(frozen=True)
class Outcome:
    """What one question needs for the metrics: gold ranks (1-based, None = not found) and flags."""

    answerable: bool
    article_rank: int | None = None
    passage_rank: int | None = None
    extract_rank: int | None = None
    short_exact: float = 0.0
    short_f1: float = 0.0
    no_answer: bool = False
    latency_ms: float = 0.0


# ---------------------------------------------------------------- matching


def contains_gold(text: str, golds: Iterable[str]) -> bool:
    """True when some non-empty gold, compacted, occurs in the compacted text."""
    hay = compact(text)
    return any(g and g in hay for g in (compact(x) for x in golds))


def first_rank(texts: Sequence[str], golds: Sequence[str]) -> int | None:
    """1-based position of the first text containing a gold answer, or None."""
    for i, text in enumerate(texts, 1):
        if contains_gold(text, golds):
            return i
    return None


def answer_chars(text: str) -> str:
    """The form short answers are compared in: NFKC, lowercase, no whitespace or punctuation."""
    text = "".join(unicodedata.normalize("NFKC", text).lower().split())
    kept = []
    for i, ch in enumerate(text):
        # Category P* is punctuation in every script (，。、“” as well as ASCII), but "%" and
        # a decimal point between digits carry meaning in quantities (85.6% vs 856).
        if unicodedata.category(ch).startswith("P") and ch != "%" and not (
            ch == "." and 0 < i < len(text) - 1 and text[i - 1].isdigit() and text[i + 1].isdigit()
        ):
            continue
        kept.append(ch)
    return "".join(kept)


def exact_match(prediction: str, golds: Sequence[str]) -> float:
    """1.0 when the normalized prediction equals a normalized gold answer."""
    pred = answer_chars(prediction)
    return float(bool(pred) and any(pred == answer_chars(g) for g in golds))


def char_f1(prediction: str, golds: Sequence[str]) -> float:
    """Character-level F1 of the prediction against its best gold answer (0.0 when empty)."""
    pred = answer_chars(prediction)
    best = 0.0
    for gold in golds:
        ref = answer_chars(gold)
        if not pred or not ref:
            continue
        common = sum((Counter(pred) & Counter(ref)).values())
        if common == 0:
            continue
        precision, recall = common / len(pred), common / len(ref)
        best = max(best, 2 * precision * recall / (precision + recall))
    return best


# ---------------------------------------------------------------- aggregates


def hit_at(ranks: Sequence[int | None], k: int) -> float:
    """Share of ranks that are at most k (NaN for no questions)."""
    if not ranks:
        return NAN
    return sum(1 for r in ranks if r is not None and r <= k) / len(ranks)


def mrr(ranks: Sequence[int | None], k: int = 10) -> float:
    """Mean reciprocal rank, counting ranks beyond k as misses (NaN for no questions)."""
    if not ranks:
        return NAN
    return sum(1.0 / r for r in ranks if r is not None and r <= k) / len(ranks)


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) with linear interpolation between order statistics."""
    if not values:
        return NAN
    data = sorted(values)
    pos = (len(data) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


def share(flags: Sequence[bool]) -> float:
    """Share of true flags (NaN for none)."""
    return sum(1 for f in flags if f) / len(flags) if flags else NAN


def mean(values: Sequence[float]) -> float:
    """Arithmetic mean (NaN for none)."""
    return sum(values) / len(values) if values else NAN


def compute_metrics(outcomes: Sequence[Outcome]) -> dict[str, float]:
    """Every metric of `METRIC_NAMES` over the outcomes.

    Retrieval, extract and short-answer metrics are over answerable questions only;
    no_answer_accuracy over unanswerable ones; latency over all. A metric whose group is
    empty (no unanswerable questions in a SQuAD 1 file) is NaN. Extract hits are counted
    whether or not the answer was flagged no_answer: false_no_answer_rate reports that.
    """
    ans = [o for o in outcomes if o.answerable]
    unans = [o for o in outcomes if not o.answerable]
    article = [o.article_rank for o in ans]
    passage = [o.passage_rank for o in ans]
    extract = [o.extract_rank for o in ans]
    latency = [o.latency_ms for o in outcomes]
    return {
        "article_hit@1": hit_at(article, 1),
        "article_hit@5": hit_at(article, 5),
        "passage_hit@1": hit_at(passage, 1),
        "passage_hit@5": hit_at(passage, 5),
        "mrr@10": mrr(passage, 10),
        "extract_hit@1": hit_at(extract, 1),
        "extract_hit@3": hit_at(extract, 3),
        "short_answer_exact": mean([o.short_exact for o in ans]),
        "short_answer_f1": mean([o.short_f1 for o in ans]),
        "no_answer_accuracy": share([o.no_answer for o in unans]),
        "false_no_answer_rate": share([o.no_answer for o in ans]),
        "latency_ms_p50": percentile(latency, 50),
        "latency_ms_p95": percentile(latency, 95),
    }
