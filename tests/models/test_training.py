"""Training the reader on a tiny fixture: examples, falling loss, resume, export, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from qa.errors import InputError
from qa.models.training import TrainSettings, load_squad, make_examples

TINY = Path(__file__).parents[1] / "data" / "tiny_squad.json"
FAST = TrainSettings(first_trained=10, epochs=6, batch_size=4, lr=1e-3, warmup=0.1, max_tokens=128, seed=5)


def test_load_squad_finds_answers_whose_start_is_wrong(tmp_path):
    data = {"data": [{"title": "t", "paragraphs": [{"context": "甲乙丙丁戊", "qas": [
        {"id": "a", "question": "q?", "answers": [{"text": "丙丁", "answer_start": 0}]},
        {"id": "b", "question": "q2?", "answers": [{"text": "不在文中", "answer_start": 1}]}]}]}]}
    path = tmp_path / "s.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    items = load_squad(path)
    assert items[0]["answers"] == [("丙丁", 2)]
    assert items[1]["answers"] == []


def test_load_squad_refuses_what_is_not_squad(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text("[1, 2", encoding="utf-8")
    with pytest.raises(InputError, match="SQuAD"):
        load_squad(path)


def test_examples_pair_each_question_with_its_answer_and_with_passages_without_it():
    items = load_squad(TINY)
    settings = TrainSettings(passage_chars=40, hard_negatives=1, random_negatives=1.0, noise_questions=0.0)
    examples = make_examples(items, settings)
    positives = [e for e in examples if e[2] is not None]
    negatives = [e for e in examples if e[2] is None]
    assert len(positives) == len(items)
    for question, passage, (a, b) in positives:
        item = next(it for it in items if it["question"] == question)
        assert passage[a:b] == item["answers"][0][0]
    for question, passage, _ in negatives:
        item = next(it for it in items if it["question"] == question)
        assert item["answers"][0][0] not in passage
    assert len(negatives) >= len(items)
    assert make_examples(items, settings) == examples  # seeded


def test_answer_removed_negatives_are_the_answer_passage_less_its_answer_sentences():
    items = load_squad(TINY)
    settings = TrainSettings(passage_chars=400, hard_negatives=0, random_negatives=0.0, noise_questions=0.0,
                             answer_removed=1.0)
    examples = make_examples(items, settings)
    by_question: dict[str, list] = {}
    for e in examples:
        by_question.setdefault(e[0], []).append(e)
    removed = 0
    for question, group in by_question.items():
        (positive,) = [e for e in group if e[2] is not None]
        answer = positive[1][positive[2][0]:positive[2][1]]
        for _, passage, span in group:
            if span is None:
                removed += 1
                assert answer not in passage and len(passage) < len(positive[1])
                # what is left is the positive passage's own text, sentences cut out whole
                assert all(part in positive[1] for part in passage.split("。") if part)
    assert removed >= len(items) // 2


def test_reading_form_examples_move_the_answer_with_the_text():
    context = "上海酒消费信息中 心 秘 书 长 许 竣 哲说：欢迎。"
    items = [{"id": "x", "question": "秘书长 叫什么？", "context": context,
              "answers": [("许 竣 哲", context.index("许"))], "title": "t"}]
    settings = TrainSettings(hard_negatives=0, random_negatives=0.0, noise_questions=0.0, reading_form=True)
    ((question, passage, (a, b)),) = make_examples(items, settings)
    assert question == "秘书长叫什么？" and passage == "上海酒消费信息中心秘书长许竣哲说：欢迎。"
    assert passage[a:b] == "许竣哲"


@pytest.mark.slow
def test_a_few_steps_make_the_loss_fall_and_a_resumed_run_ends_where_an_uninterrupted_one_does(tmp_path):
    from safetensors.numpy import load_file

    from qa.models.reader import Reader
    from qa.models.training import train_reader

    whole = train_reader([TINY], tmp_path / "whole", settings=FAST, precision="fp32", progress=False)
    assert whole["finished"] and whole["steps"] == whole["total_steps"] > 20
    losses = json.loads((tmp_path / "whole" / "work" / "checkpoint" / "state.json").read_text())["losses"]
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5])

    first = train_reader([TINY], tmp_path / "parts", settings=FAST, precision="fp32", progress=False,
                         budget_s=0)
    assert not first["finished"] and first["steps"] == 1
    second = train_reader([TINY], tmp_path / "parts", settings=FAST, precision="fp32", progress=False)
    assert second["finished"] and second["steps"] == whole["steps"]
    a = load_file(str(tmp_path / "whole" / "reader.safetensors"))
    b = load_file(str(tmp_path / "parts" / "reader.safetensors"))
    assert set(a) == set(b) and all(n.startswith(("blocks.10.", "blocks.11.", "span.")) for n in a)
    assert max(float(np.abs(a[n].astype(np.float32) - b[n].astype(np.float32)).max()) for n in a) < 1e-2

    reader = Reader(tmp_path / "whole")
    (reading,) = reader.read("绿源小镇的规划面积是多少？", ["绿源小镇位于东阳江南岸，规划面积4.5平方公里。"])
    assert reading.spans and "4.5" in reading.spans[0].text  # learned on this very example


@pytest.mark.slow
def test_a_second_run_continues_from_a_trained_reader_and_adds_up_its_time(tmp_path):
    from safetensors.numpy import load_file

    from qa.models.training import train_reader

    first = train_reader([TINY], tmp_path / "first", settings=FAST, precision="fp32", progress=False)
    short = TrainSettings(**{**FAST.__dict__, "epochs": 1, "lr": 1e-4})
    # one step only: the continued weights must start from the first run's, not from e5's
    second = train_reader([TINY], tmp_path / "second", settings=short, precision="fp32", progress=False,
                          init=tmp_path / "first", budget_s=0)
    fresh = train_reader([TINY], tmp_path / "fresh", settings=short, precision="fp32", progress=False, budget_s=0)
    a, b, c = (load_file(str(tmp_path / d / "reader.safetensors")) for d in ("first", "second", "fresh"))
    gap = lambda x, y: max(float(np.abs(x[n].astype(np.float32) - y[n].astype(np.float32)).max()) for n in x)  # noqa: E731
    assert gap(a, b) < gap(a, c)
    assert second["continues"]["steps"] == first["steps"]
    assert second["train_time_s_in_all"] >= first["train_time_s"]
    with pytest.raises(InputError, match="no trained reader"):
        train_reader([TINY], tmp_path / "x", settings=short, precision="fp32", progress=False, init=tmp_path / "none")
    other = TrainSettings(**{**short.__dict__, "first_trained": 9})
    with pytest.raises(InputError, match="trained blocks from 10"):
        train_reader([TINY], tmp_path / "y", settings=other, precision="fp32", progress=False, init=tmp_path / "first")


@pytest.mark.slow
def test_a_work_folder_of_another_run_is_refused(tmp_path):
    from qa.models.training import train_reader

    train_reader([TINY], tmp_path / "out", settings=FAST, precision="fp32", progress=False, budget_s=0)
    other = TrainSettings(**{**FAST.__dict__, "lr": 5e-4})
    with pytest.raises(InputError, match="other data or settings"):
        train_reader([TINY], tmp_path / "out", settings=other, precision="fp32", progress=False)


@pytest.mark.slow
def test_combined_readers_average_the_runs_logits_and_int8_int4_storage_stays_close(tmp_path):
    from qa.models.reader import Reader
    from qa.models.training import train_reader
    from qa.models.weights import combine_readers

    for seed in (5, 6):
        settings = TrainSettings(**{**FAST.__dict__, "seed": seed})
        train_reader([TINY], tmp_path / f"run{seed}", settings=settings, precision="fp32", progress=False, budget_s=0)
    runs = [tmp_path / "run5", tmp_path / "run6"]
    fp16 = combine_readers(runs, tmp_path / "fp16", bits=16)
    combine_readers(runs, tmp_path / "int8")
    assert "int4" in combine_readers(runs, tmp_path / "int4", bits=4)["storage"]
    assert len(fp16["members"]) == 2 and fp16["members"][0]["settings"]["seed"] == 5
    size = lambda d: (tmp_path / d / "reader.safetensors").stat().st_size  # noqa: E731
    assert size("int8") < 0.6 * size("fp16") and size("int4") < 0.8 * size("int8")

    question, passage = "绿源小镇的规划面积是多少？", "绿源小镇位于东阳江南岸，规划面积4.5平方公里。"
    readers = {d: Reader(tmp_path / d, precision="fp32") for d in ("run5", "run6", "fp16", "int8", "int4")}
    windows = readers["run5"].tokens.windows(question, [passage])
    (s5, e5), (s6, e6), (sc, ec), (sq, eq), (s4, e4) = (readers[d].logits(windows)[0] for d in readers)
    assert not np.allclose(s5, s6, atol=1e-3)  # two different runs
    np.testing.assert_allclose(sc, (s5 + s6) / 2, atol=1e-4)
    np.testing.assert_allclose(ec, (e5 + e6) / 2, atol=1e-4)
    spread = float(np.ptp(sc[windows[0].first:-1]))
    assert float(np.abs(sq - sc)[windows[0].first:-1].max()) < 0.02 * spread
    assert float(np.abs(s4 - sc)[windows[0].first:-1].max()) < 0.1 * spread


@pytest.mark.slow
def test_combining_refuses_what_cannot_be_averaged(tmp_path):
    from qa.models.training import train_reader
    from qa.models.weights import combine_readers

    train_reader([TINY], tmp_path / "a", settings=FAST, precision="fp32", progress=False, budget_s=0)
    other = TrainSettings(**{**FAST.__dict__, "first_trained": 9})
    train_reader([TINY], tmp_path / "b", settings=other, precision="fp32", progress=False, budget_s=0)
    with pytest.raises(InputError, match="at least two"):
        combine_readers([tmp_path / "a"], tmp_path / "out")
    with pytest.raises(InputError, match="differ in first_trained"):
        combine_readers([tmp_path / "a", tmp_path / "b"], tmp_path / "out")
    with pytest.raises(InputError, match="no trained reader"):
        combine_readers([tmp_path / "a", tmp_path / "none"], tmp_path / "out")
    combine_readers([tmp_path / "a", tmp_path / "a"], tmp_path / "both")
    with pytest.raises(InputError, match="routes name members"):
        combine_readers([tmp_path / "a", tmp_path / "a"], tmp_path / "out", routes={"en": [2]})
    with pytest.raises(InputError, match="combines 2 runs"):
        train_reader([TINY], tmp_path / "c", settings=FAST, precision="fp32", progress=False, budget_s=0,
                     init=tmp_path / "both")
    assert not (tmp_path / "out").exists()
    # one member of a combined reader can be continued: the run records it and the time before it
    summary = train_reader([TINY], tmp_path / "d", settings=FAST, precision="fp32", progress=False, budget_s=0,
                           init=f"{tmp_path / 'both'}@1")
    both = json.loads((tmp_path / "both" / "reader.json").read_text(encoding="utf-8"))
    assert summary["continues"]["member"] == 1
    assert summary["continues"]["sha256"] == both["members"][1]["weights_sha256"]
    assert summary["train_time_s_in_all"] >= both["members"][1]["train_time_s"]
    with pytest.raises(InputError, match="has members 0..1"):
        train_reader([TINY], tmp_path / "e", settings=FAST, precision="fp32", progress=False, budget_s=0,
                     init=f"{tmp_path / 'both'}@2")


@pytest.mark.slow
def test_a_combined_reader_takes_another_run_and_routes_languages_to_members(tmp_path):
    from qa.models.reader import Reader
    from qa.models.training import train_reader
    from qa.models.weights import combine_readers

    for seed in (5, 6, 7):
        settings = TrainSettings(**{**FAST.__dict__, "seed": seed})
        train_reader([TINY], tmp_path / f"run{seed}", settings=settings, precision="fp32", progress=False, budget_s=0)
    combine_readers([tmp_path / "run5", tmp_path / "run6"], tmp_path / "two", bits=16)
    three = combine_readers([tmp_path / "two", tmp_path / "run7"], tmp_path / "three", bits=16,
                            routes={"zh": [0, 1], "en": [2]})
    assert [m["settings"]["seed"] for m in three["members"]] == [5, 6, 7]
    assert three["routes"] == {"zh": [0, 1], "en": [2]}
    assert three["train_time_s_in_all"] == sum(m["train_time_s"] for m in three["members"])

    question, passage = "绿源小镇的规划面积是多少？", "绿源小镇位于东阳江南岸，规划面积4.5平方公里。"
    readers = {d: Reader(tmp_path / d, precision="fp32") for d in ("two", "run7", "three")}
    windows = readers["two"].tokens.windows(question, [passage])
    assert readers["three"].route("zh") == [0, 1] and readers["three"].route("fr") == [0, 1, 2]
    np.testing.assert_allclose(readers["three"].logits(windows, members=[0, 1])[0][0],
                               readers["two"].logits(windows)[0][0], atol=1e-4)
    np.testing.assert_allclose(readers["three"].logits(windows, members=[2])[0][0],
                               readers["run7"].logits(windows)[0][0], atol=1e-4)
    zh = readers["three"].read(question, [passage], lang="zh")
    assert [sp.text for sp in zh[0].spans] == [sp.text for sp in readers["two"].read(question, [passage])[0].spans]
