"""bench first-passage: answers decided from the first passage alone from a rank up, and the rank chosen."""

from __future__ import annotations

import math

import pytest

from qa.errors import InputError
from qa.evaluation.first_passage import choose_rank, score_rank
from qa.evaluation.questions import Question


def _row(rank: float, gold: str, all_read: str, first: str) -> dict:
    return {"paragraph": 0, "question": Question("q", "?", (gold,)), "rank": rank, "all": all_read, "first": first}


def test_score_rank_takes_the_first_passage_answer_from_the_rank_up() -> None:
    rows = [_row(9.0, "4公里", "4公里", "4公里"),        # sure, same answer either way
            _row(3.0, "950平方米", "950平方米", "5公里"),  # the first passage alone would answer wrongly
            _row(-math.inf, "近10000人", "", "")]          # no span in the first passage: all read
    high = score_rank(rows, 5.0)
    assert high == {"em": pytest.approx(66.67), "f1": pytest.approx(66.67), "em_all": pytest.approx(66.67),
                    "f1_all": pytest.approx(66.67), "first_alone": pytest.approx(0.3333), "changed": 0}
    low = score_rank(rows, 2.0)
    assert low["em"] == pytest.approx(33.33) and low["em_all"] == pytest.approx(66.67)
    assert low["first_alone"] == pytest.approx(0.6667) and low["changed"] == 1
    # a first-passage answer that is better than reading all counts as it is
    assert score_rank([_row(4.0, "4公里", "", "4公里")], 0.0)["em"] == 100.0


def _table_row(rank: float, em: float, f1: float) -> dict:
    return {"rank": rank, "fit_em": em, "fit_f1": f1, "fit_em_all": 60.0, "fit_f1_all": 80.0}


def test_the_rank_is_the_lowest_reached_before_the_answers_first_fall() -> None:
    table = [_table_row(8.0, 60.0, 80.0), _table_row(4.0, 59.95, 80.02), _table_row(2.0, 59.8, 79.95),
             _table_row(0.0, 60.0, 80.0)]  # 0.0 holds again by chance: not reached
    assert choose_rank(table)["rank"] == 4.0
    assert choose_rank(table[:2])["rank"] == 4.0
    with pytest.raises(InputError):
        choose_rank([_table_row(8.0, 59.0, 80.0)])
