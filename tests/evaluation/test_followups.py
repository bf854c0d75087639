"""The follow-up benchmark: topic check, set validation, rules against candidate rewrites."""

from __future__ import annotations

import json

import pytest

from qa.errors import InputError
from qa.evaluation.followups import bench_followups, resolved_on_topic
from qa.evaluation.questions import load_questions
from qa.paths import sample_questions


def test_resolved_on_topic_needs_one_topic_word() -> None:
    assert resolved_on_topic("2020年义乌国际半程马拉松今日开跑：有多少人参加？", ["马拉松", "义马"])
    assert not resolved_on_topic("新增的植物园赛道有多少人参加？", ["马拉松", "义马"])
    assert resolved_on_topic("How large is the US pavilion?", ["us pavilion"])


def test_topic_is_read_and_checked(tmp_path) -> None:
    path = tmp_path / "f.jsonl"
    path.write_text(json.dumps({"id": "a", "question": "它在哪？", "answers": ["x"], "turns": ["美国馆多大？"],
                                "topic": ["美国馆"]}, ensure_ascii=False) + "\n", encoding="utf-8")
    assert load_questions(path)[0].topic == ("美国馆",)
    path.write_text(json.dumps({"id": "a", "question": "它在哪？", "answers": ["x"], "topic": "美国馆"},
                               ensure_ascii=False) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match='"topic" must be a list'):
        load_questions(path)


def test_follow_up_sets_need_turns_and_topic(tmp_path) -> None:
    path = tmp_path / "f.jsonl"
    path.write_text(json.dumps({"id": "a", "question": "美国馆在哪？", "answers": ["x"]}, ensure_ascii=False) + "\n",
                    encoding="utf-8")
    with pytest.raises(InputError, match="need 'turns' and 'topic'"):
        bench_followups(path, progress=False)


def test_shipped_follow_up_sets_are_valid() -> None:
    folder = sample_questions().parent
    sets = [load_questions(p) for p in sorted(folder.glob("followups-*.jsonl"))]
    assert len(sets) == 2 and sum(len(s) for s in sets) >= 30
    assert all(q.turns and q.topic and q.answers for s in sets for q in s)


@pytest.mark.slow
def test_candidate_rewrites_answer_what_the_rules_miss(sample_index, tmp_path) -> None:
    path = tmp_path / "f.jsonl"
    path.write_text(json.dumps({"id": "m", "question": "那有多少人参加？", "answers": ["近10000人"],
                                "turns": ["新增的植物园赛道有多长？"], "topic": ["马拉松", "义马"]},
                               ensure_ascii=False) + "\n", encoding="utf-8")
    rules = bench_followups(path, index=sample_index, rules_only=True, progress=False)
    both = bench_followups(path, index=sample_index, progress=False)
    assert rules["resolved_on_topic"] == 0.0 and rules["answered"] == 0.0
    assert both["resolved_on_topic"] == 1.0 and both["exact"] == 1.0
