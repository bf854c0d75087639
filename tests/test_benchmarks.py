"""Retrieval benchmarks on the SQuAD fixture: method comparison and the re-ranker fit."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa.benchmarks import METHODS, bench_rerank, bench_retrieval
from qa.errors import InputError
from qa.rerank import FEATURES

FIXTURE = str(Path(__file__).parent / "data" / "squad_small.json")


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
