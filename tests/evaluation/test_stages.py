"""bench speed: the stages of ask timed on the real pipeline, and nothing left wrapped."""

from __future__ import annotations

import pytest


@pytest.mark.slow
def test_stages_add_up_to_the_ask_and_the_wrappers_go(sample_index) -> None:
    import qa.answers.ask as ask_module
    import qa.search.retrieve as retrieve_module
    from qa.evaluation.stages import STAGES, bench_speed
    from qa.models.reader import Reader, get_reader

    plain = (retrieve_module.retrieve, ask_module.reading_question)
    result = bench_speed(index=sample_index, limit=8)
    summary = result["all"]
    assert summary["questions"] == 8 and result["cpu"] and result["reader"] in ("fp32", "bf16", "int8")
    stages = summary["stages_ms"]
    assert set(stages) == set(STAGES)
    assert all(v >= 0 for v in stages.values()), stages
    assert sum(stages.values()) == pytest.approx(summary["mean_ms"], rel=1e-6)
    # the reader and the question's embedding are where the time goes, and they were timed
    assert stages["reader forward"] > 0 and stages["query embedding"] > 0
    assert 0.0 <= summary["first_passage_alone"] <= 1.0
    # the shared objects and modules are as they were
    reader = get_reader()
    assert "read" not in vars(reader) and "logits" not in vars(reader)
    assert reader.read.__func__ is Reader.read
    assert "embed_queries" not in vars(sample_index.embedder)
    assert (retrieve_module.retrieve, ask_module.reading_question) == plain
