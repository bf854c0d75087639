"""Benchmarks over a SQuAD-format file (e.g. CMRC 2018 dev), each paragraph an article titled by
its document: `edition-qa bench squad` (answers end to end), `bench reader` (the reader alone,
gold paragraph given), `bench length-prior` (the reader's span length prior), `bench retrieval` (the fusion methods compared) and `bench rerank`
(the re-ranker fitted and cross-validated). `bench calibrate` is in `qa.evaluation.calibration`."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Sequence
from typing import Any

from qa.errors import InputError
from qa.evaluation.evaluate import AskFn, Report, evaluate, progress_bar, warm_index
from qa.evaluation.questions import Question
from qa.language.translate import question_language
from qa.search.rerank import WEIGHTS, cross_validate, fit, recall
from qa.squad import read_squad
from qa.types import Article, stable_hash

__all__ = ["METHODS", "bench_length_prior", "passage_recall", "bench_reader", "bench_rerank", "bench_retrieval",
           "bench_squad", "load_squad", "squad_paragraphs"]

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
    paragraphs = squad_paragraphs(path)
    return [a for a, _ in paragraphs], [q for _, qs in paragraphs for q in qs]


def squad_paragraphs(path: str | os.PathLike) -> list[tuple[Article, list[Question]]]:
    """Each paragraph of a SQuAD-format file as an article with its questions."""
    out: list[tuple[Article, list[Question]]] = []
    for para in read_squad(path):
        article = Article(id="squad-" + stable_hash(para.doc, para.n, para.title, para.context),
                          date=SQUAD_DATE, page=SQUAD_PAGE, kind="article", headline=para.title, body=para.context)
        questions = [Question(q.id, q.question, tuple(dict.fromkeys(t for t, _ in q.answers)) if q.answerable else (),
                              q.answerable, (), question_language(q.question)) for q in para.questions]
        out.append((article, questions))
    return out


def answerable_spread(paragraphs: list[tuple[Article, list[Question]]], limit: int | None,
                      path: str | os.PathLike) -> list[tuple[int, Question]]:
    """The answerable questions of `paragraphs` with their paragraph's number, `limit` of them
    spread evenly over the file (all when None); InputError when there are none."""
    asked = [(n, q) for n, (_, qs) in enumerate(paragraphs) for q in qs if q.answerable]
    if limit:
        asked = asked[::max(len(asked) // limit, 1)][:limit]
    if not asked:
        raise InputError(f"{path} holds no answerable questions")
    return asked


def paragraph_halves(rows: list[dict[str, Any]], what: str) -> dict[str, list[dict[str, Any]]]:
    """Rows of even-numbered paragraphs ("fit": they choose `what`) and of odd ones ("check")."""
    halves = {"fit": [r for r in rows if r["paragraph"] % 2 == 0], "check": [r for r in rows if r["paragraph"] % 2]}
    if not halves["fit"] or not halves["check"]:
        raise InputError(f"the {what} needs questions from at least two paragraphs")
    return halves


def passage_recall(index: Any, items: Iterable[tuple[str, Sequence[str]]], *,
                   ks: Sequence[int] = (1, 5), fusion: dict[str, Any] | None = None) -> dict[int, float]:
    """Share of questions whose gold answer (any of them, compacted) is in a top-k passage.

    `items` are (question, answers) pairs; returns {k: recall}.
    """
    from qa.search.retrieve import retrieve
    from qa.text import compact

    top = max(ks)
    found = {k: 0 for k in ks}
    n = 0
    for question, answers in items:
        n += 1
        golds = [compact(a) for a in answers if compact(a)]
        hits = retrieve(question, k=top, index=index, fusion=fusion)
        first = next((h.rank for h in hits
                      if any(g in compact(h.passage.text) for g in golds)), None)
        for k in ks:
            found[k] += first is not None and first <= k
    return {k: found[k] / n if n else 0.0 for k in ks}


def bench_squad(path: str | os.PathLike, *, limit: int | None = None, k: int = 5, progress: bool = True,
                model: Any = None, warm: bool | None = None, ask_fn: AskFn | None = None,
                index_uri: str | None = None) -> Report:
    """Build a temporary index from a SQuAD-format file and evaluate its questions.

    Args:
        path: SQuAD-format JSON (e.g. CMRC 2018 dev).
        limit: ask only the first N questions (the index still holds every paragraph).
        k: passages retrieved per question.
        progress: progress bars for embedding and asking.
        model: embedding model id or folder (default: the index default).
        warm: load the reader and read once before asking, so latency is warm (default).
        ask_fn: stands in for `qa.answers.ask.ask` (tests).
        index_uri: also write the index there (a folder or Milvus URI) and ask through it.
    Returns:
        The evaluate() Report; its metrics also hold build_seconds (parse, chunk, embed, index),
        warm_seconds (loading the reader), articles, passages and questions.
    """
    from qa.store.index import DEFAULT_MODEL, Index

    articles, questions = load_squad(path)
    if limit is not None:
        questions = questions[: max(0, limit)]
        if not questions:
            raise InputError("--limit must be at least 1.")
    t0 = time.perf_counter()
    index = Index.from_articles(articles, model=model or DEFAULT_MODEL, progress=progress)
    if index_uri:
        from qa.store.location import open_index, parse_location, write_index

        write_index(index, index_uri, progress=progress)
        local, index = index, open_index(index_uri, model=index.embedder
                                         if parse_location(index_uri).is_milvus else None)
        local.close()
    build_seconds = time.perf_counter() - t0
    try:
        t0 = time.perf_counter()
        if ask_fn is None and warm is not False:
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
    from qa.store.index import DEFAULT_MODEL, Index

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
    re-ranked candidates (`qa.search.retrieve.rerank_lists`) and returns the first stage's and the
    held-out re-ranked passage R@1/R@5, the shipped WEIGHTS' recall on the same lists, and the
    weights fitted on all of them (what WEIGHTS would become).
    """
    from qa.search.retrieve import rerank_lists

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


def _gold_readings(path: str | os.PathLike, reader: Any, *, limit: int | None, whole: bool, progress: bool,
                   label: str, terms: bool = True, **read_options: Any) -> Any:
    """(paragraph number, question, every span read, tokens read) for each answerable question of
    a SQuAD-format file, the reader given its gold paragraph (as 250-char passages or `whole`)."""
    from qa.editions.chunk import chunk_article

    paragraphs = squad_paragraphs(path)
    todo = [(n, a, q) for n, (a, qs) in enumerate(paragraphs) for q in qs if q.answerable][:limit]
    if not todo:
        raise InputError(f"{path} holds no answerable questions.")
    from qa.language.translate import question_language, translate_question

    for n, article, q in progress_bar(todo, progress, label):
        texts = [article.body] if whole else [p.text for p in chunk_article(article)]
        lang = question_language(q.question)
        # an English question is read as `ask` reads it over Chinese text: with its dictionary
        # terms (`terms`), or with `terms` False as asked
        asked = (translate_question(q.question).reader_question(texts)
                 if lang == "en" and terms and translate_question(q.question).known else q.question)
        tokens = sum(len(w.ids) for w in reader.tokens.windows(asked, texts, max_tokens=reader.max_tokens))
        spans = [s for r in reader.read(asked, texts, lang=lang, **read_options) for s in r.spans]
        yield n, q, spans, tokens


def bench_reader(path: str | os.PathLike, *, limit: int | None = None, whole: bool = False,
                 folder: str | os.PathLike | None = None, precision: str = "auto",
                 progress: bool = True, terms: bool = True) -> dict[str, Any]:
    """The reader alone on a SQuAD-format file, each question given its gold paragraph.

    The paragraph is read as the index's passages (250 chars; the best-ranked span over them
    wins), or with `whole` as one text (windows of the reader's length). EM and F1 are the
    official CMRC 2018 ones, x100. `folder` is a trained reader (default: the one in use), read
    at `precision` (see `qa.models.reader.Reader`). English questions are read with their dictionary
    terms as `ask` reads them, or with `terms` False as asked.
    Returns the figures and every question with its prediction.
    """
    from qa.evaluation.metrics import answer_f1, exact_match
    from qa.models.reader import Reader, get_reader

    reader = get_reader(folder) if precision == "auto" else Reader(folder, precision=precision)
    rows, em, f1, tokens = [], 0.0, 0.0, 0
    t0 = time.perf_counter()
    for _, q, spans, n_tokens in _gold_readings(path, reader, limit=limit, whole=whole, progress=progress,
                                                label="reader", terms=terms):
        tokens += n_tokens
        best = max(spans, key=lambda s: s.rank) if spans else None
        pred = best.text if best else ""
        e, f = exact_match(pred, q.answers), answer_f1(pred, q.answers)
        em, f1 = em + e, f1 + f
        rows.append({"id": q.id, "question": q.question, "answers": list(q.answers), "prediction": pred,
                     "margin": round(best.margin, 4) if best else None, "em": e, "f1": round(f, 4)})
    seconds = time.perf_counter() - t0
    return {"questions": len(rows), "em": 100 * em / len(rows), "f1": 100 * f1 / len(rows),
            "seconds": round(seconds, 1), "reader_tokens_per_s": round(tokens / seconds),
            "length_prior": reader.length_prior,
            "mode": "whole paragraph" if whole else "250-char passages", "precision": precision, "rows": rows}


LENGTH_PRIOR_GRID = (0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0)


def bench_length_prior(path: str | os.PathLike, *, limit: int | None = None, progress: bool = True) -> dict[str, Any]:
    """Fit the reader's length prior on a SQuAD-format file (e.g. CMRC 2018 dev), gold paragraph given.

    Spans are ranked by margin - weight x log(characters). Every weight of LENGTH_PRIOR_GRID is
    scored (official EM and F1) on the questions of even-numbered paragraphs, which choose it
    (best EM + F1), and on those of odd-numbered ones, which check it.
    Returns the chosen weight and the table behind it.
    """
    import math

    from qa.evaluation.metrics import answer_f1, exact_match
    from qa.models.reader import get_reader

    reader = get_reader()
    halves: dict[str, list[tuple[Any, list[tuple[float, int, str]]]]] = {"fit": [], "check": []}
    for n, q, spans, _ in _gold_readings(path, reader, limit=limit, whole=False, progress=progress,
                                         label="length prior", length_prior=0.0, top=8):
        halves["check" if n % 2 else "fit"].append((q, [(s.margin, len(s.text), s.text) for s in spans]))
    if not halves["fit"] or not halves["check"]:
        raise InputError("the length prior needs questions from at least two paragraphs")

    def score(rows: list, weight: float) -> tuple[float, float]:
        em = f1 = 0.0
        for q, spans in rows:
            pred = max(spans, key=lambda s: s[0] - weight * math.log(s[1]))[2] if spans else ""
            em, f1 = em + exact_match(pred, q.answers), f1 + answer_f1(pred, q.answers)
        return round(100 * em / len(rows), 2), round(100 * f1 / len(rows), 2)

    table = [{"weight": w, **{f"{h}_{m}": v for h in halves for m, v in zip(("em", "f1"), score(halves[h], w))}}
             for w in LENGTH_PRIOR_GRID]
    chosen = max(table, key=lambda row: row["fit_em"] + row["fit_f1"])
    return {"weight": chosen["weight"], "fit_questions": len(halves["fit"]),
            "check_questions": len(halves["check"]), "chosen": chosen, "table": table}


def calibration_pairs(path: str | os.PathLike, n: int, *, seed: int = 3) -> list[tuple[str, list[str]]]:
    """`n` (question, passages) pairs from a SQuAD-format file (e.g. CMRC 2018 train): a question
    of a random paragraph with the paragraph's first two 250-character passages."""
    import random

    paragraphs = [(a, qs) for a, qs in squad_paragraphs(path) if qs and a.body.strip()]
    if not paragraphs:
        raise InputError(f"{path} has no paragraphs with questions")
    random.Random(seed).shuffle(paragraphs)
    out = []
    for article, questions in paragraphs[:n]:
        body = article.body
        out.append((questions[0].question, [body[:250], body[250:500] or body[:250]]))
    return out
