"""Retrieval benchmarks over a SQuAD-format file (e.g. CMRC 2018 dev): `edition-qa bench
retrieval` compares the fusion methods, `edition-qa bench rerank` fits and cross-validates the
re-ranker. (`edition-qa bench squad`, the end-to-end answer benchmark, is in `qa.evaluate`.)"""

from __future__ import annotations

import time
from typing import Any

from qa.errors import InputError
from qa.rerank import WEIGHTS, cross_validate, fit, recall

__all__ = ["METHODS", "bench_rerank", "bench_retrieval"]

# Fusion overrides compared by bench_retrieval, by name.
METHODS: dict[str, dict[str, Any]] = {
    "dense": {"method": "dense", "hub_weight": 0.0, "rerank": False},
    "lexical": {"method": "lexical", "rerank": False},
    "rrf": {"method": "rrf", "rrf_k": 60, "hub_weight": 0.0, "rerank": False},
    "weighted": {"rerank": False},
    "weighted+rerank": {"rerank": True},
    "weighted+rerank+merge0.15": {"rerank": True, "merge_gap": 0.15},
}


def _squad_index(path: str, *, model: Any, chunk_size: int | None, progress: bool) -> tuple[Any, list]:
    from qa.evaluate import load_squad
    from qa.index import DEFAULT_MODEL, Index

    articles, questions = load_squad(path)
    settings = {"chunk": {"size": chunk_size}} if chunk_size else None
    index = Index.from_articles(articles, model=model or DEFAULT_MODEL, settings=settings,
                                progress=progress)
    return index, [(q.question, q.answers) for q in questions if q.answerable]


def bench_retrieval(path: str, *, model: Any = None, chunk_size: int | None = None,
                    limit: int | None = None, methods: list[str] | None = None,
                    progress: bool = True) -> dict[str, dict[str, float]]:
    """Passage R@1 / R@5 of each fusion method (METHODS) on a SQuAD-format file.

    `chunk_size` sets the passage size (default: the index default; a size above the longest
    paragraph makes every paragraph one passage). Returns {method: {"r1", "r5", "seconds"}}.
    """
    from qa.evaluate import _progress
    from qa.retrieve import passage_recall

    t0 = time.perf_counter()
    index, items = _squad_index(path, model=model, chunk_size=chunk_size, progress=progress)
    items = items[:limit]
    report: dict[str, dict[str, float]] = {"build": {"seconds": round(time.perf_counter() - t0, 1),
                                                     "passages": float(len(index))}}
    try:
        for name in methods or list(METHODS):
            t0 = time.perf_counter()
            got = passage_recall(index, _progress(items, progress, name), ks=(1, 5), fusion=METHODS[name])
            report[name] = {"r1": got[1], "r5": got[5], "seconds": round(time.perf_counter() - t0, 1)}
    finally:
        index.close()
    return report


def bench_rerank(path: str, *, model: Any = None, folds: int = 5, limit: int | None = None,
                 progress: bool = True) -> dict[str, Any]:
    """Fit and cross-validate the re-ranker on a SQuAD-format file (e.g. CMRC 2018 dev).

    Builds a temporary index of the file's paragraphs, collects each answerable question's
    re-ranked candidates (`qa.retrieve.rerank_lists`) and returns the first stage's and the
    held-out re-ranked passage R@1/R@5, the shipped WEIGHTS' recall on the same lists, and the
    weights fitted on all of them (what WEIGHTS would become).
    """
    from qa.evaluate import _progress
    from qa.retrieve import rerank_lists

    t0 = time.perf_counter()
    index, items = _squad_index(path, model=model, chunk_size=None, progress=progress)
    items = items[:limit]
    try:
        lists = rerank_lists(index, _progress(items, progress, "candidates"))
    finally:
        index.close()
    try:
        report: dict[str, Any] = dict(cross_validate(lists, folds=folds))
        report["fitted_weights"] = fit(lists)
    except ValueError:
        raise InputError(f"Too few questions to fit the re-ranker in {folds} folds: every fold "
                         "needs a question whose gold passage has rivals.") from None
    report["shipped_r1"] = recall(lists, WEIGHTS, 1)
    report["shipped_r5"] = recall(lists, WEIGHTS, 5)
    report["questions"] = len(lists)
    report["seconds"] = round(time.perf_counter() - t0, 1)
    report["fitted_weights"] = report.pop("fitted_weights")  # last: the longest line
    return report
