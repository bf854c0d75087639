"""Second stage of retrieval: re-rank the fused candidates with a linear model over evidence
that the first stage does not see.

The fused score (`qa.search.retrieve.fuse`) says how well a passage matches as a whole. Most of its
top-1 misses on CMRC 2018 dev are a neighbouring passage of the right article: both match the
topic, only one holds the words that single out the answer. The features below measure that:
IDF-weighted coverage of the question's terms by the passage and by its best sentence, the
IDF taken over the candidates' sentences (so the topic every candidate shares weighs little).

The model is a linear score over FEATURES, fitted listwise (softmax over one question's
candidates, the passages holding the gold answer as targets) by `fit`; `cross_validate`
reports its held-out recall. `edition-qa bench rerank FILE` (`qa.evaluation.benchmarks`) reruns both on a SQuAD-format file.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from qa.language.translate import coverage_terms, holds
from qa.text import normalize, split_sentences

__all__ = ["FEATURES", "WEIGHTS", "cross_validate", "features", "fit", "recall", "scores"]

FEATURES = (
    "fused",              # first-stage score, 0..1
    "coverage",           # IDF share of the question's terms in the passage or its article's title
    "sentence_coverage",  # the same for the passage's best sentence (title terms count)
)

# Fitted by `fit` on all 3,219 questions of CMRC 2018 dev (250-char passages) and divided by
# the fused weight, so the re-ranked score is the fused score plus a coverage bonus. Five-fold
# cross-validated passage R@1 0.951 -> 0.958 there; on the bundled sample questions (not used
# for fitting; the 102 answerable ones without earlier turns) 0.931 -> 0.941. Richer models (dense and lexical ranks, article evidence,
# sentence cosines, the answer scorer; gradient boosting) gained under 0.7 pt more on CMRC and
# lost on the sample (see README "Quality").
WEIGHTS: dict[str, float] = {"fused": 1.0, "coverage": 0.131, "sentence_coverage": 0.172}


def _idf(groups: Sequence[tuple[str, ...]], texts: Sequence[str]) -> dict[tuple[str, ...], float]:
    n = len(texts)
    return {g: math.log(1.0 + n / (1.0 + sum(holds(x, g) for x in texts))) for g in groups}


def features(question: str, cands: Sequence[Any], fused: Mapping[int, float],
             passages: Mapping[int, Any], titles: Mapping[str, str]) -> np.ndarray:
    """The FEATURES of each candidate, one row per candidate in `cands` order.

    The question's terms are `qa.language.translate.coverage_terms`: an English term counts as
    covered when any of its dictionary candidates is printed.

    Args:
        question: the (cleaned) question.
        cands: `qa.search.retrieve.Candidate`s (anything with an `id`).
        fused: first-stage score of each candidate id.
        passages: the Passage of each candidate id.
        titles: the title (kicker and headline) of each article id.
    """
    out = np.zeros((len(cands), len(FEATURES)), dtype=np.float64)
    out[:, 0] = [fused[c.id] for c in cands]
    terms = coverage_terms(question)
    if not terms or not len(cands):
        return out
    # A headline-only brief has no sentences: its title stands in.
    sentences: list[list[str]] = []
    distinct: dict[tuple[str, int], str] = {}
    for c in cands:
        p = passages[c.id]
        spans = split_sentences(p.text) if p.text else []
        sents = [normalize(p.text[s:e]) for s, e in spans] or [normalize(titles.get(p.article_id, ""))]
        sentences.append(sents)
        for (s, _), text in zip(spans or [(0, 0)], sents):
            distinct[(p.article_id, p.start + s)] = text  # overlapping passages share sentences
    weight = _idf(terms, list(distinct.values()))
    total = sum(weight.values()) or 1.0
    for row, (c, sents) in enumerate(zip(cands, sentences)):
        title = normalize(titles.get(passages[c.id].article_id, ""))
        in_title = {t for t in terms if holds(title, t)}
        held = [{t for t in terms if holds(s, t)} | in_title for s in sents]
        out[row, 1] = sum(weight[t] for t in set().union(*held)) / total
        out[row, 2] = max(sum(weight[t] for t in h) for h in held) / total
    return out


def scores(x: np.ndarray, weights: Mapping[str, float] | None = None) -> np.ndarray:
    """The linear re-ranking score of each feature row."""
    w = weights or WEIGHTS
    return x @ np.array([float(w.get(name, 0.0)) for name in FEATURES])


def fit(lists: Sequence[tuple[np.ndarray, np.ndarray]], *, l2: float = 1e-5,
        steps: int = 3000, lr: float = 0.05) -> dict[str, float]:
    """Weights maximizing the mean log-probability of the gold passages (softmax over each
    question's candidates), with an L2 penalty; full-batch Adam. Lists are (features, labels)
    with labels 1 for candidates holding the gold answer; lists with no or only gold are skipped.
    """
    kept = [(x, y) for x, y in lists if len(y) and 0 < y.sum() < len(y)]
    if not kept:
        raise ValueError("no question has both gold and other candidates")
    x = np.vstack([k[0] for k in kept])
    y = np.concatenate([k[1] for k in kept]).astype(bool)
    starts = np.cumsum([0] + [len(k[1]) for k in kept[:-1]])
    group = np.repeat(np.arange(len(kept)), [len(k[1]) for k in kept])
    w = np.zeros(x.shape[1])
    w[0] = 5.0
    m = np.zeros_like(w)
    v = np.zeros_like(w)
    for step in range(1, steps + 1):
        s = x @ w
        s -= np.maximum.reduceat(s, starts)[group]
        e = np.exp(s)
        p = e / np.add.reduceat(e, starts)[group]
        pg = np.where(y, p, 0.0)
        pos = np.add.reduceat(pg, starts)[group]
        # d(-log sum_gold p)/ds = p - p * 1[gold] / sum_gold p
        grad_s = p - np.where(y, pg / pos, 0.0)
        g = x.T @ grad_s / len(kept) + 2 * l2 * w
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        w -= lr * (m / (1 - 0.9 ** step)) / (np.sqrt(v / (1 - 0.999 ** step)) + 1e-8)
    # Divided by the fused weight when it is positive, so the score stays on the fused scale
    # (a bonus added to it); the order is the same either way.
    scale = float(w[0]) if w[0] > 0 else 1.0
    return {name: round(float(value) / scale, 4) for name, value in zip(FEATURES, w)}


def recall(lists: Sequence[tuple[np.ndarray, np.ndarray]], weights: Mapping[str, float],
            k: int) -> float:
    found = 0
    for x, y in lists:
        if len(y):
            order = np.argsort(-scores(x, weights), kind="stable")
            found += bool(y[order[:k]].max())
    return found / len(lists) if lists else 0.0


def cross_validate(lists: Sequence[tuple[np.ndarray, np.ndarray]], *, folds: int = 5,
                   l2: float = 1e-5) -> dict[str, float]:
    """Held-out R@1/R@5 of the re-ranker over contiguous folds (questions of one document stay
    together in SQuAD order), next to the first stage's."""
    edges = np.linspace(0, len(lists), folds + 1).astype(int)
    r1 = r5 = 0.0
    for a, b in zip(edges[:-1], edges[1:]):
        w = fit([*lists[:a], *lists[b:]], l2=l2)
        r1 += recall(lists[a:b], w, 1) * (b - a)
        r5 += recall(lists[a:b], w, 5) * (b - a)
    base = {"fused": 1.0}
    return {"fused_r1": recall(lists, base, 1), "fused_r5": recall(lists, base, 5),
            "cv_r1": r1 / len(lists), "cv_r5": r5 / len(lists)}

