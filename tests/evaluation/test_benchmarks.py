"""SQuAD-format benchmarks on the fixture: loading, answers end to end, retrieval methods, re-ranker fit."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa.errors import InputError
from qa.evaluation.benchmarks import (
    METHODS,
    bench_rerank,
    bench_retrieval,
    bench_squad,
    load_squad,
)
from qa.search.rerank import FEATURES
from qa.types import Answer

DATA = Path(__file__).parents[1] / "data"
FIXTURE = str(DATA / "squad_small.json")


def test_bench_retrieval_reports_every_method(hash_embedder):
    report = bench_retrieval(FIXTURE, model=hash_embedder, progress=False)
    assert set(report) == {"build", *METHODS}
    assert report["build"]["passages"] >= 3
    for name in METHODS:
        assert 0.0 <= report[name]["r1"] <= report[name]["r5"] <= 1.0
    # Every fixture question shares words with its paragraph: the lexical side finds them all.
    assert report["lexical"]["r5"] == 1.0


def test_whole_paragraph_passages(hash_embedder):
    report = bench_retrieval(FIXTURE, model=hash_embedder, chunk_size=100_000,
                             methods=["lexical"], progress=False)
    assert set(report) == {"build", "lexical"} and report["build"]["passages"] == 3


def test_bench_rerank_on_the_squad_fixture(embedder):
    report = bench_rerank(FIXTURE, model=embedder, folds=2, progress=False)
    assert report["questions"] > 0
    for key in ("fused_r1", "fused_r5", "cv_r1", "cv_r5", "shipped_r1", "shipped_r5"):
        assert 0.0 <= report[key] <= 1.0
    assert report["fused_r1"] <= report["fused_r5"] and report["shipped_r1"] <= report["shipped_r5"]
    assert set(report["fitted_weights"]) == set(FEATURES)


def test_bench_rerank_limit(hash_embedder):
    with pytest.raises(InputError, match="Too few questions"):  # one question, two folds
        bench_rerank(FIXTURE, model=hash_embedder, folds=2, limit=1, progress=False)


def test_load_squad_fixture():
    articles, questions = load_squad(DATA / "squad_small.json")
    assert [a.headline for a in articles] == ["青岩湖茶园", "城东跨江大桥", "Harbour Library"]
    assert len({a.id for a in articles}) == 3
    assert len(questions) == 11
    assert sum(not q.answerable for q in questions) == 1
    by_id = {q.id: q for q in questions}
    assert by_id["T0_Q0"].answers == ("约1200亩", "1200亩")
    assert by_id["T2_Q1"].lang == "en"


def test_load_squad_rejects_other_json(tmp_path):
    path = tmp_path / "x.json"
    path.write_text('{"items": []}', encoding="utf-8")
    with pytest.raises(InputError, match="not a SQuAD-format"):
        load_squad(path)


def test_bench_squad_limit_with_stand_ins(hash_embedder):
    calls = []

    def ask(question, *, index=None, history=None, k=5):
        calls.append(question)
        return Answer(question, question, no_answer=True)

    report = bench_squad(DATA / "squad_small.json", limit=2, progress=False, model=hash_embedder, ask_fn=ask)
    assert [r.id for r in report.questions] == ["T0_Q0", "T0_Q1"] and len(set(calls)) == 2
    assert report.metrics["questions"] == 2 and report.metrics["articles"] == 3
    assert report.metrics["false_no_answer_rate"] == 1.0
    with pytest.raises(InputError):
        bench_squad(DATA / "squad_small.json", limit=0, progress=False, model=hash_embedder, ask_fn=ask)


@pytest.mark.slow
def test_bench_squad_end_to_end(embedder):
    report = bench_squad(DATA / "squad_small.json", k=5, progress=False, model=embedder)
    m = report.metrics
    assert m["questions"] == 11 and m["articles"] == 3 and m["passages"] >= 3
    assert m["build_seconds"] > 0 and m["warm_seconds"] >= 0
    assert m["article_hit@5"] == 1.0  # three paragraphs, five hits: every article is retrieved
    assert m["article_hit@1"] >= 0.8
    assert 0.0 <= m["short_answer_f1"] <= 1.0
    assert len(report.questions) == 11


@pytest.mark.slow
def test_bench_reader_scores_each_question_with_the_official_metric():
    from qa.evaluation.benchmarks import bench_reader
    from qa.evaluation.metrics import answer_f1, exact_match

    report = bench_reader(DATA / "tiny_squad.json", progress=False)
    rows = report["rows"]
    assert report["questions"] == len(rows) == 12
    assert {"id", "question", "answers", "prediction"} <= set(rows[0])
    for r in rows:
        assert r["em"] == exact_match(r["prediction"], r["answers"])
        assert r["f1"] == pytest.approx(answer_f1(r["prediction"], r["answers"]), abs=1e-4)
    assert report["em"] == pytest.approx(100 * sum(r["em"] for r in rows) / len(rows))
    assert report["f1"] >= report["em"] > 50  # made-up paragraphs, plain questions: mostly read right
    assert bench_reader(DATA / "tiny_squad.json", limit=3, progress=False)["questions"] == 3


def test_bench_length_prior_chooses_on_even_paragraphs_and_checks_on_odd():
    from qa.evaluation.benchmarks import (
        LENGTH_PRIOR_GRID,
        bench_length_prior,
        bench_reader,
    )

    report = bench_length_prior(DATA / "tiny_squad.json", progress=False)
    table = report["table"]
    assert [row["weight"] for row in table] == list(LENGTH_PRIOR_GRID)
    assert report["fit_questions"] + report["check_questions"] == 12
    assert report["fit_questions"] > 0 and report["check_questions"] > 0
    best = max(row["fit_em"] + row["fit_f1"] for row in table)
    assert report["chosen"]["fit_em"] + report["chosen"]["fit_f1"] == best
    assert report["weight"] == report["chosen"]["weight"]
    assert all(0 <= row[k] <= 100 for row in table for k in ("fit_em", "fit_f1", "check_em", "check_f1"))
    # the row of the weight the reader uses gives the figures bench reader gives, over both halves
    reader = bench_reader(DATA / "tiny_squad.json", progress=False)
    (row,) = [row for row in table if row["weight"] == reader["length_prior"]]
    n_fit, n_check = report["fit_questions"], report["check_questions"]
    assert (row["fit_em"] * n_fit + row["check_em"] * n_check) / 12 == pytest.approx(reader["em"], abs=0.05)
