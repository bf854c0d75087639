"""Benchmarks over a SQuAD-format file (e.g. CMRC 2018 dev), each paragraph an article titled by
its document: `edition-qa bench squad` (answers end to end), `bench reader` (the reader alone,
gold paragraph given), `bench length-prior` (the reader's span length prior), `bench calibrate`
(the no-answer calibration), `bench retrieval` (the fusion methods compared) and `bench rerank`
(the re-ranker fitted and cross-validated)."""

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

__all__ = ["METHODS", "bench_calibrate", "bench_length_prior", "bench_reader", "bench_rerank", "bench_retrieval",
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
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
        docs = data["data"]
    except FileNotFoundError:
        raise InputError(f"No SQuAD file at {path}: check the path.") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise InputError(f"{path} is not a SQuAD-format JSON file ({type(exc).__name__}: {exc}); "
                         'expected {"data": [{"title", "paragraphs": [{"context", "qas"}]}]}.') from None
    out: list[tuple[Article, list[Question]]] = []
    n_questions = 0
    seen: set[str] = set()
    try:
        for d, doc in enumerate(docs):
            title = str(doc.get("title") or "").strip()
            for p, para in enumerate(doc["paragraphs"]):
                context = str(para["context"])
                aid = "squad-" + stable_hash(d, p, title, context)
                article = Article(id=aid, date=SQUAD_DATE, page=SQUAD_PAGE, kind="article",
                                  headline=title, body=context)
                questions: list[Question] = []
                out.append((article, questions))
                for qa in para.get("qas", []):
                    golds = tuple(dict.fromkeys(a["text"] for a in qa.get("answers", []) if a["text"].strip()))
                    answerable = not qa.get("is_impossible", False) and bool(golds)
                    qid = str(qa.get("id") or f"{d}-{p}-{n_questions}")
                    if qid in seen:
                        qid = f"{qid}-{n_questions}"
                    n_questions += 1
                    seen.add(qid)
                    text = str(qa["question"])
                    questions.append(Question(qid, text, golds if answerable else (), answerable,
                                              (), guess_lang(text)))
    except (KeyError, TypeError, AttributeError) as exc:
        raise InputError(f"{path}: malformed SQuAD entry ({type(exc).__name__}: {exc}).") from None
    if not n_questions:
        raise InputError(f"{path} holds no questions.")
    return out


def bench_squad(path: str | os.PathLike, *, limit: int | None = None, k: int = 5, progress: bool = True,
                model: Any = None, warm: bool | None = None, ask_fn: AskFn | None = None) -> Report:
    """Build a temporary index from a SQuAD-format file and evaluate its questions.

    Args:
        path: SQuAD-format JSON (e.g. CMRC 2018 dev).
        limit: ask only the first N questions (the index still holds every paragraph).
        k: passages retrieved per question.
        progress: progress bars for embedding and asking.
        model: embedding model id or folder (default: the index default).
        warm: load the reader and read once before asking, so latency is warm (default).
        ask_fn: stands in for `qa.answer.ask` (tests).
    Returns:
        The evaluate() Report; its metrics also hold build_seconds (parse, chunk, embed, index),
        warm_seconds (loading the reader), articles, passages and questions.
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


def _gold_readings(path: str | os.PathLike, reader: Any, *, limit: int | None, whole: bool, progress: bool,
                   label: str, **read_options: Any) -> Any:
    """(paragraph number, question, every span read, tokens read) for each answerable question of
    a SQuAD-format file, the reader given its gold paragraph (as 250-char passages or `whole`)."""
    from qa.chunk import chunk_article

    paragraphs = squad_paragraphs(path)
    todo = [(n, a, q) for n, (a, qs) in enumerate(paragraphs) for q in qs if q.answerable][:limit]
    if not todo:
        raise InputError(f"{path} holds no answerable questions.")
    for n, article, q in progress_bar(todo, progress, label):
        texts = [article.body] if whole else [p.text for p in chunk_article(article)]
        tokens = sum(len(w.ids) for w in reader.tokens.windows(q.question, texts, max_tokens=reader.max_tokens))
        spans = [s for r in reader.read(q.question, texts, **read_options) for s in r.spans]
        yield n, q, spans, tokens


def bench_reader(path: str | os.PathLike, *, limit: int | None = None, whole: bool = False,
                 folder: str | os.PathLike | None = None, precision: str = "auto",
                 progress: bool = True) -> dict[str, Any]:
    """The reader alone on a SQuAD-format file, each question given its gold paragraph.

    The paragraph is read as the index's passages (250 chars; the best-ranked span over them
    wins), or with `whole` as one text (windows of the reader's length). EM and F1 are the
    official CMRC 2018 ones, x100. `folder` is a trained reader (default: the one in use), read
    at `precision` (see `qa.reader.Reader`).
    Returns the figures and every question with its prediction.
    """
    from qa.metrics import answer_f1, exact_match
    from qa.reader import Reader, get_reader

    reader = get_reader(folder) if precision == "auto" else Reader(folder, precision=precision)
    rows, em, f1, tokens = [], 0.0, 0.0, 0
    t0 = time.perf_counter()
    for _, q, spans, n_tokens in _gold_readings(path, reader, limit=limit, whole=whole, progress=progress,
                                                label="reader"):
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

    from qa.metrics import answer_f1, exact_match
    from qa.reader import get_reader

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


def noise_questions(path: str | os.PathLike, n: int, *, seed: int = 7) -> list[str]:
    """`n` questions that a corpus of other documents cannot answer, made from a SQuAD-format file
    (e.g. CMRC 2018 train, never the question set that checks the calibration): a third its own
    questions, a third shuffled characters of its paragraphs, a third shuffled words of them."""
    import random

    from qa.text import tokenize

    rng = random.Random(seed)
    paragraphs = squad_paragraphs(path)
    questions = [q.question for _, qs in paragraphs for q in qs]
    bodies = [a.body for a, _ in paragraphs]
    out = rng.sample(questions, min(len(questions), n - 2 * (n // 3)))
    for _ in range(n // 3):
        body = rng.choice(bodies)
        size = rng.randint(4, 20)
        at = rng.randrange(max(1, len(body) - size))
        chars = list(body[at:at + size])
        rng.shuffle(chars)
        out.append("".join(chars) + rng.choice(["？", "?", ""]))
    for _ in range(n // 3):
        words = [w for w in tokenize(rng.choice(bodies)) if w.strip()] or ["?"]
        out.append("".join(rng.sample(words, min(len(words), rng.randint(2, 7)))) + rng.choice(["？", "是什么？", ""]))
    return out


def altered_number(question: str, body: str, *, seed: int = 7) -> str | None:
    """`question` with its first number that `body` prints changed to one `body` does not print
    (a year moved by 1-9, any other number's last digit changed); None when it holds none."""
    import random
    import re

    rng = random.Random(f"{seed}:{question}")
    for m in re.finditer(r"[0-9]+", question):
        number = m.group(0)
        if number not in body:
            continue
        if len(number) == 4:
            options = [str(int(number) + d) for d in (-9, -7, -5, -3, -2, -1, 1, 2, 3, 5, 7, 9)]
        else:
            options = [number[:-1] + d for d in "0123456789" if d != number[-1]]
        options = [o for o in options if o not in body]
        if options:
            return question[:m.start()] + rng.choice(options) + question[m.end():]
    return None


def bench_calibrate(path: str | os.PathLike, *, limit: int | None = None, k: int = 5, model: Any = None,
                    max_false_no_answer: float | None = None, noise_from: str | os.PathLike | None = None,
                    noise: int = 300, altered_numbers: bool = False, features: tuple[str, ...] | None = None,
                    progress: bool = True) -> dict[str, Any]:
    """Fit the no-answer calibration on a SQuAD-format file (e.g. CMRC 2018 dev).

    Every second paragraph is indexed without the sentences that hold any of its questions'
    answers, so those questions find their topic but no answer (the hard case: "the edition
    covers it but does not say"); a paragraph left empty by that is left out. With `noise_from`
    (a SQuAD-format file of other documents), `noise` questions made from it (`noise_questions`)
    are asked too, as more questions without an answer; with `altered_numbers`, so is every
    indexed question holding a number its paragraph prints, that number changed to one the
    paragraph does not print ("2016年..." asked as "2019年...": the topic is there, the answer
    is not). Each question is retrieved and read as
    `ask` does; its `features` (default: the best margin alone; any of
    `qa.answer.ANSWER_FEATURES`) are fitted by logistic regression to "the answer is indexed".
    The threshold on the resulting confidence is the one with the best balanced accuracy or,
    with `max_false_no_answer`, the highest one that turns at most that share of the indexed
    questions into no-answer. Returns scale and bias (the margin alone) or weights and bias,
    the threshold and the figures behind them.
    """
    from dataclasses import replace

    import numpy as np

    from qa.answer import ANSWER_FEATURES, READ_K, answer_features, read_hits
    from qa.index import DEFAULT_MODEL, Index
    from qa.reader import get_reader
    from qa.retrieve import retrieve
    from qa.text import split_sentences

    paragraphs = squad_paragraphs(path)
    kept = []
    for i, (article, questions) in enumerate(paragraphs):
        if i % 2 == 0:
            kept.append(article)
            continue
        golds = [g for q in questions for g in q.answers]
        body = "".join(article.body[a:b] for a, b in split_sentences(article.body)
                       if not any(g in article.body[a:b] for g in golds))
        if body.strip() and not any(g in body for g in golds):
            kept.append(replace(article, body=body))
    asked = [(q, i % 2 == 0) for i, (_, qs) in enumerate(paragraphs) for q in qs if q.answerable]
    if limit:
        step = max(len(asked) // limit, 1)
        asked = asked[::step][:limit]
    names = tuple(features or ("margin",))
    unknown = [f for f in names if f not in ANSWER_FEATURES]
    if unknown:
        raise InputError(f"unknown calibration feature(s) {', '.join(unknown)}; choose from {', '.join(ANSWER_FEATURES)}")
    asked_texts = [(q.question, 1.0 if indexed else 0.0) for q, indexed in asked]
    if noise_from is not None:
        asked_texts += [(text, 0.0) for text in noise_questions(noise_from, noise)]
    if altered_numbers:
        bodies = {q.id: a.body for a, qs in paragraphs for q in qs}
        asked_texts += [(text, 0.0) for q, indexed in asked if indexed
                        for text in [altered_number(q.question, bodies[q.id])] if text]
    index = Index.from_articles(kept, model=model or DEFAULT_MODEL, progress=progress)
    reader = get_reader()
    rows, labels = [], []
    try:
        for question, label in progress_bar(asked_texts, progress, "calibrate"):
            hits = retrieve(question, k=max(k, READ_K), index=index)[:READ_K]
            found = answer_features(question, hits, read_hits(question, hits, reader) if hits else [])
            rows.append([found[f] for f in names])
            labels.append(label)
    finally:
        index.close()
    xs, y = np.array(rows, dtype=float), np.array(labels)
    x = xs[:, names.index("margin")] if "margin" in names else xs[:, 0]
    if y.min() == y.max():
        raise InputError("calibration needs questions with and without their paragraph indexed")
    weights, bias = _logistic_many(xs, y)
    conf = 1.0 / (1.0 + np.exp(-np.clip(xs @ weights + bias, -50, 50)))
    grid = np.round(np.arange(0.01, 0.951, 0.01), 2)

    def balanced(t: float) -> float:
        return float(0.5 * ((conf[y == 1] >= t).mean() + (conf[y == 0] < t).mean()))

    if max_false_no_answer is None:
        t = float(max(grid, key=balanced))
    else:  # the highest threshold that still answers all but that share of the answerable questions
        allowed = [float(v) for v in grid if (conf[y == 1] < v).mean() <= max_false_no_answer]
        t = max(allowed) if allowed else float(grid[0])
    fitted: dict[str, Any] = ({"scale": round(float(weights[0]), 5)} if names == ("margin",) else
                              {"weights": {f: round(float(w), 5) for f, w in zip(names, weights)}})
    return {**fitted, "bias": round(float(bias), 5), "threshold": t,
            "criterion": ("best balanced accuracy" if max_false_no_answer is None
                          else f"false no-answer at most {max_false_no_answer}"),
            "balanced_accuracy": round(balanced(t), 4),
            "answered_when_indexed": round(float((conf[y == 1] >= t).mean()), 4),
            "no_answer_when_not_indexed": round(float((conf[y == 0] < t).mean()), 4),
            "questions": len(y), "answerable": int(y.sum()),
            "noise_questions": len(asked_texts) - len(asked), "features": list(names),
            "margins": [round(float(v), 3) for v in x], "labels": [int(v) for v in y],
            "rows": [[round(float(v), 4) for v in row] for row in xs]}


def _logistic_many(x: Any, y: Any, *, steps: int = 100) -> tuple[Any, float]:
    """p = sigmoid(x . w + b) fitted by log loss: Newton's method on standardized columns, from
    p = 0.5, with a small ridge on the weights so that separable data stays finite."""
    import numpy as np

    mu, sd = x.mean(axis=0), x.std(axis=0)
    sd[sd == 0] = 1.0
    z = np.hstack([(x - mu) / sd, np.ones((len(x), 1))])
    ridge = np.full(z.shape[1], 1e-2)
    ridge[-1] = 1e-9
    w = np.zeros(z.shape[1])
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-np.clip(z @ w, -50, 50)))
        g = z.T @ (p - y) + ridge * w
        h = (z * np.maximum(p * (1 - p), 1e-9)[:, None]).T @ z + np.diag(ridge)
        step = np.linalg.solve(h, g)
        w = w - step
        if np.abs(step).sum() < 1e-9:
            break
    weights = w[:-1] / sd
    return weights, float(w[-1] - (w[:-1] * mu / sd).sum())
