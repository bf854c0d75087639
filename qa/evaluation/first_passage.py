"""`edition-qa bench first-passage`: when the first passage alone may answer.

`ask` reads the best READ_K passages of a question. Most of the time the first holds the answer
and the reader is sure of it, and reading the others changes nothing but the time taken (the
reader is most of an ask's time on CPUs without fast bf16). So `ask` reads the first passage
alone, and the others only when no span of the first ranks (margin less length prior) at least
a fitted rank.

This benchmark retrieves and reads every answerable question of a SQuAD-format file as `ask`
does, all READ_K passages, once; then, for each rank of the grid, decides every question as `ask`
would with that rank (the first passage alone where its best span reaches it, all passages
elsewhere) and scores the short answers (official EM and F1) against reading all of them. The
questions of even-numbered paragraphs choose the rank: going down the grid from the surest, the
lowest (the most questions read from one passage) before EM or F1 first falls more than TOLERANCE
points below reading all; those of odd-numbered paragraphs check it.
"""

from __future__ import annotations

import math
import os
from typing import Any

from qa.errors import InputError
from qa.evaluation.benchmarks import answerable_spread, paragraph_halves, squad_paragraphs
from qa.evaluation.evaluate import progress_bar

__all__ = ["RANK_GRID", "TOLERANCE", "bench_first_passage", "choose_rank", "decide_rows", "score_rank"]

# From 0 up: below, the reader finds no span above the first passage's no-answer score, and the
# answer may be in the others. (CMRC dev cannot show that cost: every question is asked of a
# paragraph that answers it, and the first passage holds the answer 97% of the time; there,
# reading the first alone from rank -6 up loses nothing either.)
RANK_GRID = (0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0)
TOLERANCE = 0.1  # EM and F1 points the fitting half may lose against reading every passage


def _short(rated: Any) -> str:
    """The short answer `ask` gives from a rated reading ("" for no answer)."""
    return rated.ranked[0].text if rated.ranked and rated.answered else ""


def decide_rows(questions: list[tuple[int, Any]], index: Any, reader: Any, *, k: int = 5,
                progress: bool = False) -> list[dict[str, Any]]:
    """Each (paragraph number, Question) retrieved and read as `ask` reads it: the rank of the
    first passage's best span, and the short answer from all READ_K passages and from the first alone."""
    from qa.answers.ask import READ_K, _passage_text, rate_readings, reading_question
    from qa.models.spans import Reading
    from qa.search.retrieve import retrieve

    rows = []
    for n, q in progress_bar(questions, progress, "first passage"):
        hits = retrieve(q.question, k=max(k, READ_K), index=index)[:READ_K]
        if not hits:
            rows.append({"paragraph": n, "question": q, "rank": -math.inf, "all": "", "first": ""})
            continue
        read_as, pairing = reading_question(q.question, hits)
        readings = reader.read(read_as, [_passage_text(h) for h in hits], lang=pairing)
        alone = [readings[0]] + [Reading.unread(i) for i in range(1, len(hits))]
        rows.append({"paragraph": n, "question": q,
                     "rank": max((s.rank for s in readings[0].spans), default=-math.inf),
                     "all": _short(rate_readings(q.question, hits, read_as, pairing, readings, reader)),
                     "first": _short(rate_readings(q.question, hits, read_as, pairing, alone, reader))})
    return rows


def score_rank(rows: list[dict[str, Any]], rank: float) -> dict[str, float]:
    """EM and F1 (x100) of the short answers with the first passage alone from `rank` up, the same
    reading every passage, the share of questions read from one passage, and the answers changed."""
    from qa.evaluation.metrics import answer_f1, exact_match

    def em_f1(pick: str) -> tuple[float, float]:
        em = sum(exact_match(r[pick(r)], r["question"].answers) if r[pick(r)] else 0.0 for r in rows)
        f1 = sum(answer_f1(r[pick(r)], r["question"].answers) if r[pick(r)] else 0.0 for r in rows)
        return round(100 * em / len(rows), 2), round(100 * f1 / len(rows), 2)

    em, f1 = em_f1(lambda r: "first" if r["rank"] >= rank else "all")
    em_all, f1_all = em_f1(lambda r: "all")
    alone = [r for r in rows if r["rank"] >= rank]
    return {"em": em, "f1": f1, "em_all": em_all, "f1_all": f1_all,
            "first_alone": round(len(alone) / len(rows), 4),
            "changed": sum(r["first"] != r["all"] for r in alone)}


def choose_rank(table: list[dict[str, Any]]) -> dict[str, Any]:
    """The row of the lowest rank reached going down the grid from the surest before the fitting
    half's EM or F1 first falls more than TOLERANCE points below reading every passage."""
    chosen = None
    for row in sorted(table, key=lambda r: -r["rank"]):
        if row["fit_em"] < row["fit_em_all"] - TOLERANCE or row["fit_f1"] < row["fit_f1_all"] - TOLERANCE:
            break
        chosen = row
    if chosen is None:
        raise InputError("no rank of the grid keeps the answers of reading every passage")
    return chosen


def bench_first_passage(path: str | os.PathLike, *, limit: int | None = None, model: Any = None,
                        progress: bool = True) -> dict[str, Any]:
    """Fit the rank at which `ask` reads the first passage alone, on a SQuAD-format file (e.g.
    CMRC 2018 dev). Returns the chosen rank, the size of each half and the table: for every rank
    of the grid, the figures on the fitting and the checking half."""
    from qa.models.reader import get_reader
    from qa.store.index import DEFAULT_MODEL, Index

    paragraphs = squad_paragraphs(path)
    asked = answerable_spread(paragraphs, limit, path)
    index = Index.from_articles([a for a, _ in paragraphs], model=model or DEFAULT_MODEL, progress=progress)
    try:
        rows = decide_rows(asked, index, get_reader(), progress=progress)
    finally:
        index.close()
    halves = paragraph_halves(rows, "first-passage rank")
    table = []
    for rank in RANK_GRID:
        row: dict[str, Any] = {"rank": rank}
        for name, part in halves.items():
            row.update({f"{name}_{key}": v for key, v in score_rank(part, rank).items()})
        table.append(row)
    chosen = choose_rank(table)
    return {"rank": chosen["rank"], "tolerance": TOLERANCE, "fit_questions": len(halves["fit"]),
            "check_questions": len(halves["check"]), "chosen": chosen, "table": table}
