"""bench retrieval-weight: spans chosen under each weight, scored with the official metric."""

from __future__ import annotations

from qa.evaluation.questions import Question
from qa.evaluation.weighting import _score
from qa.models.spans import Span


def _row(paragraph: int, answers: tuple[str, ...], fused: list[float], spans: list[tuple[Span, bool]],
         passage_gold: list[bool]) -> dict:
    return {"paragraph": paragraph, "question": Question("q", "?", answers), "fused": fused,
            "passage_gold": passage_gold, "spans": spans}


def test_score_counts_em_f1_and_the_passage_and_extract_of_the_chosen_span() -> None:
    right = Span(0, 0, 4, "4公里", 2.0, 1.0)  # best-retrieved passage, lower margin
    wrong = Span(1, 0, 3, "5公里", 3.0, 2.0)  # runner-up passage, higher margin
    rows = [_row(0, ("4公里",), [1.0, 0.8], [(right, True), (wrong, False)], [True, False])]
    # the reader alone picks the wrong span: EM 0, F1 from "公里" (LCS 2 of 3 chars each side)
    alone = _score(rows, 2, 0.0)
    assert alone["em"] == 0.0 and alone["f1"] == round(100 * 2 / 3, 2)
    assert alone["passage_hit@1"] == 0.0 and alone["extract_hit@1"] == 0.0
    # a weight above 1.0 / 0.2 = 5 lets retrieval decide
    weighted = _score(rows, 2, 6.0)
    assert weighted == {"em": 100.0, "f1": 100.0, "passage_hit@1": 1.0, "extract_hit@1": 1.0}
    # reading one passage only never sees the wrong span
    assert _score(rows, 1, 0.0)["em"] == 100.0


def test_a_question_without_spans_counts_as_a_miss() -> None:
    rows = [_row(0, ("x",), [1.0], [], [True]), _row(1, ("y",), [1.0], [(Span(0, 0, 1, "y", 1.0, 1.0), True)], [True])]
    assert _score(rows, 1, 0.0) == {"em": 50.0, "f1": 50.0, "passage_hit@1": 0.5, "extract_hit@1": 0.5}
