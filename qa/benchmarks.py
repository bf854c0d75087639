"""Benchmarks over a SQuAD-format file (e.g. CMRC 2018 dev), each paragraph an article titled by
its document: `edition-qa bench squad` (answers end to end), `bench retrieval` (the fusion
methods compared) and `bench rerank` (the re-ranker fitted and cross-validated)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from qa.errors import InputError
from qa.evaluate import AskFn, Question, Report, evaluate, guess_lang, progress_bar, warm_index
from qa.rerank import WEIGHTS, cross_validate, fit, recall
from qa.types import Article, stable_hash

__all__ = ["METHODS", "bench_rerank", "bench_retrieval", "bench_squad", "load_squad"]

# A SQuAD file is one synthetic edition: every paragraph an article of this date and page.
SQUAD_DATE = "2000-01-01"
SQUAD_PAGE = 1

# Fusion overrides compared by bench_retrieval, by name.
METHODS: dict[str, dict[str, Any]] = {
    "dense": {"method": "dense", "hub_weight": 0.0, "rerank": False},
    "lexical": {"method": "lexical", "rerank": False},
    "rrf": {"method": "rrf", "rrf_k": 60, "hub_weight": 0.0, "rerank": False},
    "weighted": {"rerank": False},
    "weighted+rerank": {"rerank": True},
    "weighted+rerank+merge0.15": {"rerank": True, "merge_gap": 0.15},
}


def load_squad(path: str | os.PathLike) -> tuple[list[Article], list[Question]]:
    """Articles (one per paragraph, titled by its document) and questions of a SQuAD-format file."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
        docs = data["data"]
    except FileNotFoundError:
        raise InputError(f"No SQuAD file at {path}: check the path.") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise InputError(f"{path} is not a SQuAD-format JSON file ({type(exc).__name__}: {exc}); "
                         'expected {"data": [{"title", "paragraphs": [{"context", "qas"}]}]}.') from None
    articles: list[Article] = []
    questions: list[Question] = []
    seen: set[str] = set()
    try:
        for d, doc in enumerate(docs):
            title = str(doc.get("title") or "").strip()
            for p, para in enumerate(doc["paragraphs"]):
                context = str(para["context"])
                aid = "squad-" + stable_hash(d, p, title, context)
                articles.append(Article(id=aid, date=SQUAD_DATE, page=SQUAD_PAGE, kind="article",
                                        headline=title, body=context))
                for qa in para.get("qas", []):
                    golds = tuple(dict.fromkeys(a["text"] for a in qa.get("answers", []) if a["text"].strip()))
                    answerable = not qa.get("is_impossible", False) and bool(golds)
                    qid = str(qa.get("id") or f"{d}-{p}-{len(questions)}")
                    if qid in seen:
                        qid = f"{qid}-{len(questions)}"
                    seen.add(qid)
                    text = str(qa["question"])
                    questions.append(Question(qid, text, golds if answerable else (), answerable,
                                              (), guess_lang(text)))
    except (KeyError, TypeError, AttributeError) as exc:
        raise InputError(f"{path}: malformed SQuAD entry ({type(exc).__name__}: {exc}).") from None
    if not questions:
        raise InputError(f"{path} holds no questions.")
    return articles, questions


def bench_squad(path: str | os.PathLike, *, limit: int | None = None, k: int = 5, progress: bool = True,
                model: Any = None, warm: bool | None = None, ask_fn: AskFn | None = None) -> Report:
    """Build a temporary index from a SQuAD-format file and evaluate its questions.

    Args:
        path: SQuAD-format JSON (e.g. CMRC 2018 dev).
        limit: ask only the first N questions (the index still holds every paragraph).
        k: passages retrieved per question.
        progress: progress bars for embedding and asking.
        model: embedding model id or folder (default: the index default).
        warm: embed every sentence before asking, so latency is warm; None means only when
            there is no limit (a short run would pay for sentences it never reads, and its
            latency then includes embedding the sentences of first-seen articles).
        ask_fn: stands in for `qa.answer.ask` (tests).
    Returns:
        The evaluate() Report; its metrics also hold build_seconds (parse, chunk, embed, index),
        warm_seconds (embedding every sentence for `ask`), articles, passages and questions.
    """
    from qa.index import DEFAULT_MODEL, Index

    articles, questions = load_squad(path)
    if limit is not None:
        questions = questions[: max(0, limit)]
        if not questions:
            raise InputError("--limit must be at least 1.")
    t0 = time.perf_counter()
    index = Index.from_articles(articles, model=model or DEFAULT_MODEL, progress=progress)
    build_seconds = time.perf_counter() - t0
    try:
        t0 = time.perf_counter()
        if ask_fn is None and (warm if warm is not None else limit is None):
            warm_index(index)
        warm_seconds = time.perf_counter() - t0
        report = evaluate(questions, index=index, k=k, progress=progress, warm=False, ask_fn=ask_fn)
        counts = index.manifest.get("counts", {})
        report.metrics.update({
            "build_seconds": build_seconds,
            "warm_seconds": warm_seconds,
            "articles": float(counts.get("articles", len(articles))),
            "passages": float(counts.get("passages", len(index))),
            "questions": float(len(questions)),
        })
    finally:
        index.close()
    return report


def _squad_index(path: str, *, model: Any, chunk_size: int | None, progress: bool) -> tuple[Any, list]:
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
    from qa.retrieve import passage_recall

    t0 = time.perf_counter()
    index, items = _squad_index(path, model=model, chunk_size=chunk_size, progress=progress)
    items = items[:limit]
    report: dict[str, dict[str, float]] = {"build": {"seconds": round(time.perf_counter() - t0, 1),
                                                     "passages": float(len(index))}}
    try:
        for name in methods or list(METHODS):
            t0 = time.perf_counter()
            got = passage_recall(index, progress_bar(items, progress, name), ks=(1, 5), fusion=METHODS[name])
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
    from qa.retrieve import rerank_lists

    t0 = time.perf_counter()
    index, items = _squad_index(path, model=model, chunk_size=None, progress=progress)
    items = items[:limit]
    try:
        lists = rerank_lists(index, progress_bar(items, progress, "candidates"))
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
