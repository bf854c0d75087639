"""`edition-qa bench calibrate`: the no-answer decision fitted on a SQuAD-format file.

Questions whose answer is indexed and questions whose answer is not (hidden answer sentences,
noise questions from another file, questions with a changed number) are retrieved and read as
`ask` does; a logistic regression over the answer stage's features tells them apart.
"""

from __future__ import annotations

import os
from typing import Any

from qa.errors import InputError
from qa.evaluation.benchmarks import squad_paragraphs
from qa.evaluation.evaluate import progress_bar

__all__ = ["altered_number", "bench_calibrate", "noise_questions"]


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
                    answerable: str = "indexed", progress: bool = True) -> dict[str, Any]:
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
    `qa.answers.ask.ANSWER_FEATURES`) are fitted by logistic regression to "the answer is indexed".
    The threshold on the resulting confidence is the one with the best balanced accuracy or,
    with `max_false_no_answer`, the highest one that turns at most that share of the indexed
    questions into no-answer. Returns scale and bias (the margin alone) or weights and bias,
    the threshold and the figures behind them.
    """
    from dataclasses import replace

    import numpy as np

    from qa.answers.ask import ANSWER_FEATURES, READ_K, answer_features, rate_readings, reading_question
    from qa.evaluation.metrics import answer_f1
    from qa.models.reader import get_reader
    from qa.search.retrieve import retrieve
    from qa.store.index import DEFAULT_MODEL, Index
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
    if answerable not in ("indexed", "right"):
        raise InputError(f"answerable must be 'indexed' or 'right', not {answerable!r}")
    names = tuple(features or ("margin",))
    unknown = [f for f in names if f not in ANSWER_FEATURES]
    if unknown:
        raise InputError(f"unknown calibration feature(s) {', '.join(unknown)}; choose from {', '.join(ANSWER_FEATURES)}")
    asked_texts = [(q.question, 1.0 if indexed else 0.0, tuple(q.answers)) for q, indexed in asked]
    if noise_from is not None:
        asked_texts += [(text, 0.0, ()) for text in noise_questions(noise_from, noise)]
    if altered_numbers:
        bodies = {q.id: a.body for a, qs in paragraphs for q in qs}
        asked_texts += [(text, 0.0, ()) for q, indexed in asked if indexed
                        for text in [altered_number(q.question, bodies[q.id])] if text]
    index = Index.from_articles(kept, model=model or DEFAULT_MODEL, progress=progress)
    reader = get_reader()
    rows, labels, right = [], [], []
    try:
        for question, label, golds in progress_bar(asked_texts, progress, "calibrate"):
            hits = retrieve(question, k=max(k, READ_K), index=index)[:READ_K]
            read_as, pairing = reading_question(question, hits)
            readings = reader.read(read_as, [h.passage.text or h.article.title for h in hits],
                                   lang=pairing) if hits else []
            found = answer_features(read_as, hits, readings, asked=question)
            rows.append([found[f] for f in names])
            labels.append(label)
            ranked = rate_readings(question, hits, read_as, pairing, readings, reader).ranked if hits else ()
            right.append(int(bool(label and ranked and answer_f1(ranked[0].text, golds) >= 0.5)))
    finally:
        index.close()
    xs, y = np.array(rows, dtype=float), np.array(right if answerable == "right" else labels, dtype=float)
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
            "answerable_as": answerable, "answered_right": int(sum(right)),
            "margins": [round(float(v), 3) for v in x], "labels": [int(v) for v in labels], "right": right,
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
