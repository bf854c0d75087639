"""`edition-qa bench retrieval-weight`: how much retrieval counts when the reader picks a passage.

The reader's margins compare well within a passage and poorly across passages (a confident
span in the neighbour of the passage that answers). `ask` therefore ranks spans by margin - length
prior + weight x (fused score of the span's passage - best fused score read). This benchmark
retrieves and reads every answerable question of a SQuAD-format file once (the top MAX_READ
passages), then scores every weight of the grid for each number of passages read: official EM
and F1 of the short answer, passage_hit@1 and extract_hit@1 of the passage and sentence it comes
from. The questions of even-numbered paragraphs choose the weight (best EM + F1 at READ_K), those
of odd-numbered ones check it.
"""

from __future__ import annotations

import os
from typing import Any

from qa.evaluation.benchmarks import answerable_spread, paragraph_halves, squad_paragraphs
from qa.evaluation.evaluate import progress_bar

__all__ = ["WEIGHT_GRID", "bench_retrieval_weight"]

WEIGHT_GRID = (0.0, 2.0, 4.0, 8.0, 12.0, 16.0, 20.0, 24.0, 32.0, 48.0)
MAX_READ = 5


def _read_all(path: str | os.PathLike, *, limit: int | None, model: Any, progress: bool) -> list[dict[str, Any]]:
    """Each answerable question retrieved and its top MAX_READ passages read, as plain rows."""
    from qa.answers.ask import _extract, _passage_text
    from qa.evaluation.metrics import contains_gold
    from qa.models.reader import get_reader
    from qa.search.retrieve import retrieve
    from qa.store.index import DEFAULT_MODEL, Index

    paragraphs = squad_paragraphs(path)
    asked = answerable_spread(paragraphs, limit, path)
    index = Index.from_articles([a for a, _ in paragraphs], model=model or DEFAULT_MODEL, progress=progress)
    reader = get_reader()
    rows = []
    try:
        for n, q in progress_bar(asked, progress, "retrieval weight"):
            hits = retrieve(q.question, k=MAX_READ, index=index)[:MAX_READ]
            readings = reader.read(q.question, [_passage_text(h) for h in hits]) if hits else []
            spans = []
            for r in readings:
                hit = hits[r.passage]
                for s in r.spans:
                    if hit.passage.text:
                        lo, hi = _extract(hit.article, hit.passage.start + s.start, hit.passage.start + s.end)
                        extract = hit.article.body[lo:hi]
                    else:
                        extract = hit.article.title
                    spans.append((s, contains_gold(extract, q.answers)))
            rows.append({"paragraph": n, "question": q, "fused": [h.score for h in hits],
                         "passage_gold": [contains_gold(_passage_text(h), q.answers) for h in hits],
                         "spans": spans})
    finally:
        index.close()
    return rows


def _score(rows: list[dict[str, Any]], read: int, weight: float) -> dict[str, float]:
    from qa.answers.ask import span_order
    from qa.evaluation.metrics import answer_f1, exact_match

    em = f1 = passage = extract = 0.0
    for row in rows:
        spans = [(s, gold) for s, gold in row["spans"] if s.passage < read]
        if not spans:
            continue
        best = span_order([s for s, _ in spans], row["fused"][:read], weight)[0]
        gold = next(g for s, g in spans if s is best)
        em += exact_match(best.text, row["question"].answers)
        f1 += answer_f1(best.text, row["question"].answers)
        passage += row["passage_gold"][best.passage]
        extract += gold
    n = len(rows)
    return {"em": round(100 * em / n, 2), "f1": round(100 * f1 / n, 2),
            "passage_hit@1": round(passage / n, 4), "extract_hit@1": round(extract / n, 4)}


def bench_retrieval_weight(path: str | os.PathLike, *, limit: int | None = None, model: Any = None,
                           progress: bool = True) -> dict[str, Any]:
    """Fit the retrieval weight of `ask`'s span ranking on a SQuAD-format file (e.g. CMRC 2018 dev).

    Returns the chosen weight (for READ_K passages read), the number of questions in each half,
    and the table: for every number of passages read (1..MAX_READ) and weight, the figures on the
    fitting and the checking half.
    """
    from qa.answers.ask import READ_K

    rows = _read_all(path, limit=limit, model=model, progress=progress)
    halves = paragraph_halves(rows, "retrieval weight")
    table = []
    for read in range(1, MAX_READ + 1):
        for weight in WEIGHT_GRID:
            row: dict[str, Any] = {"read": read, "weight": weight}
            for name, part in halves.items():
                row.update({f"{name}_{k}": v for k, v in _score(part, read, weight).items()})
            table.append(row)
    chosen = max((r for r in table if r["read"] == READ_K), key=lambda r: r["fit_em"] + r["fit_f1"])
    return {"weight": chosen["weight"], "read": READ_K, "fit_questions": len(halves["fit"]),
            "check_questions": len(halves["check"]), "chosen": chosen, "table": table}
