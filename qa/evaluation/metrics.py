"""Evaluation metrics as pure functions over per-question outcomes.

Names (`METRIC_NAMES`) are the ones used in tables and JSON. Gold matching follows the
question-set format: a gold answer matches a text when, after NFKC and removing all
whitespace, it is contained in it. Short answers are scored with the official CMRC 2018
metric (EM after removing its punctuation list; F1 over the longest common substring of the
"mixed segmentation": CJK chars one by one, other runs as words), best over the gold answers.
"""

from __future__ import annotations

import math
import re
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


# The CMRC 2018 evaluation script's punctuation list ("……" is one entry of two chars, so a
# single "…" never matches it, exactly as in the script).
CMRC_PUNCTUATION = ("-", ":", "_", "*", "^", "/", "\\", "~", "`", "+", "=", "，", "。", "：", "？", "！", "“",
                    "”", "；", "’", "《", "》", "……", "·", "、", "「", "」", "（", "）", "－", "～", "『", "』")
_CJK = re.compile(r"[\u4e00-\u9fa5]")
# nltk's word_tokenize in the script; numbers keep their inner points and commas ("3.32", "1,000")
_WORD = re.compile(r"\d+(?:[.,]\d+)*|\w+|[^\w\s]")


def mixed_segments(text: str) -> list[str]:
    """CMRC 2018 "mixed segmentation" with punctuation removed: each CJK char is a segment,
    runs of other chars are split into words."""
    text = str(text).lower().strip()
    out: list[str] = []
    run = ""
    for ch in text:
        if ch in CMRC_PUNCTUATION:
            continue
        if _CJK.match(ch):
            out.extend(_WORD.findall(run))
            run = ""
            out.append(ch)
        else:
            run += ch
    out.extend(_WORD.findall(run))
    return out


def _without_punctuation(text: str) -> str:
    return "".join(ch for ch in str(text).lower().strip() if ch not in CMRC_PUNCTUATION)


def _longest_common_substring(a: Sequence[str], b: Sequence[str]) -> int:
    best = 0
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0] * (len(b) + 1)
        for j, y in enumerate(b, 1):
            if x == y:
                cur[j] = prev[j - 1] + 1
                best = max(best, cur[j])
        prev = cur
    return best


def exact_match(prediction: str, golds: Sequence[str]) -> float:
    """CMRC 2018 EM: 1.0 when the prediction equals a gold answer, both lower-cased, stripped
    and without the script's punctuation (0.0 for an empty prediction)."""
    pred = _without_punctuation(prediction)
    return float(bool(pred) and any(pred == _without_punctuation(g) for g in golds))


def answer_f1(prediction: str, golds: Sequence[str]) -> float:
    """CMRC 2018 F1 against the best gold: precision and recall of the longest common
    substring of the mixed segmentations (0.0 when empty)."""
    pred = mixed_segments(prediction)
    best = 0.0
    for gold in golds:
        ref = mixed_segments(gold)
        common = _longest_common_substring(ref, pred) if pred and ref else 0
        if common:
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
