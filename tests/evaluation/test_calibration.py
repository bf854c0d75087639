"""bench calibrate: the no-answer decision fitted on questions with and without their answer indexed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from qa.errors import InputError

DATA = Path(__file__).parents[1] / "data"


@pytest.mark.slow
def test_bench_calibrate_hides_the_answers_of_every_second_paragraph(embedder):
    from qa.evaluation.calibration import bench_calibrate

    report = bench_calibrate(DATA / "tiny_squad.json", model=embedder, progress=False)
    assert report["questions"] == 12 and 0 < report["answerable"] < 12
    assert 0.01 <= report["threshold"] <= 0.95 and report["scale"] > 0  # a larger margin means answerable
    assert 0.5 <= report["balanced_accuracy"] <= 1.0

    # with a bound on false no-answers: the highest threshold of the grid that keeps to it
    bounded = bench_calibrate(DATA / "tiny_squad.json", model=embedder, max_false_no_answer=0.2, progress=False)
    margins, labels = np.array(bounded["margins"]), np.array(bounded["labels"])
    conf = 1 / (1 + np.exp(-(bounded["scale"] * margins + bounded["bias"])))

    def false_no_answer(t: float) -> float:
        return float((conf[labels == 1] < t).mean())

    t = bounded["threshold"]
    assert false_no_answer(t) <= 0.2 and 1 - bounded["answered_when_indexed"] == pytest.approx(false_no_answer(t))
    assert t == 0.95 or false_no_answer(round(t + 0.01, 2)) > 0.2
    assert bounded["criterion"] == "false no-answer at most 0.2"


def test_logistic_many_recovers_the_weights_behind_the_labels() -> None:
    from qa.evaluation.calibration import _logistic_many

    rng = np.random.default_rng(0)
    x = rng.normal(size=(20000, 2)) * [3.0, 0.5] + [1.0, 0.0]
    p = 1 / (1 + np.exp(-(x @ [0.8, -2.0] - 0.5)))
    y = (rng.random(20000) < p).astype(float)
    weights, bias = _logistic_many(x, y)
    assert weights == pytest.approx([0.8, -2.0], rel=0.1) and bias == pytest.approx(-0.5, rel=0.1)
    (alone,), _ = _logistic_many(x[:, :1], y)
    assert alone > 0


def test_noise_questions_come_from_the_file_and_repeat_with_the_seed() -> None:
    from qa.evaluation.benchmarks import squad_paragraphs
    from qa.evaluation.calibration import noise_questions

    made = noise_questions(DATA / "tiny_squad.json", 9)
    assert len(made) == 9 and made == noise_questions(DATA / "tiny_squad.json", 9)
    asked = {q.question for _, qs in squad_paragraphs(DATA / "tiny_squad.json") for q in qs}
    assert sum(q in asked for q in made) == 3
    assert made != noise_questions(DATA / "tiny_squad.json", 9, seed=8)


@pytest.mark.slow
def test_bench_calibrate_weighs_features_and_counts_noise_as_unanswerable(embedder):
    from qa.answers.ask import ANSWER_FEATURES
    from qa.evaluation.calibration import bench_calibrate

    report = bench_calibrate(DATA / "tiny_squad.json", model=embedder, noise_from=DATA / "tiny_squad.json",
                             noise=6, features=ANSWER_FEATURES, progress=False)
    assert set(report["weights"]) == set(ANSWER_FEATURES) and "scale" not in report
    assert report["noise_questions"] == 6 and report["questions"] == 18
    assert report["answerable"] < 12 and 0.01 <= report["threshold"] <= 0.95
    with pytest.raises(InputError, match="unknown calibration feature"):
        bench_calibrate(DATA / "tiny_squad.json", model=embedder, features=("colour",), progress=False)


@pytest.mark.slow
def test_bench_calibrate_can_fit_only_right_answers_as_answerable(embedder):
    from qa.evaluation.calibration import bench_calibrate

    indexed = bench_calibrate(DATA / "tiny_squad.json", model=embedder, progress=False)
    right = bench_calibrate(DATA / "tiny_squad.json", model=embedder, answerable="right", progress=False)
    assert right["labels"] == indexed["labels"]  # the same questions, indexed the same way
    # right answers are a subset of the indexed questions, and they are what is fitted
    assert all(r <= lab for r, lab in zip(right["right"], right["labels"]))
    assert right["answerable"] == right["answered_right"] == sum(right["right"]) <= indexed["answerable"]
    assert indexed["answered_right"] == right["answered_right"] and right["answerable_as"] == "right"
    with pytest.raises(InputError, match="answerable must be"):
        bench_calibrate(DATA / "tiny_squad.json", model=embedder, answerable="some", progress=False)


def test_altered_number_changes_a_printed_number_to_one_the_paragraph_lacks() -> None:
    from qa.evaluation.calibration import altered_number

    body = "2016年，美国馆建成，面积950平方米；2017年扩建。"
    changed = altered_number("2016年美国馆的面积是多少？", body)
    assert changed is not None and changed != "2016年美国馆的面积是多少？"
    year = changed[:4]
    assert changed == year + "年美国馆的面积是多少？" and year not in body and 2007 <= int(year) <= 2025
    assert altered_number("2016年美国馆的面积是多少？", body) == changed  # repeatable
    assert altered_number("美国馆的面积是多少？", body) is None  # no number
    assert altered_number("1999年美国馆的面积是多少？", body) is None  # a number the paragraph lacks stays
