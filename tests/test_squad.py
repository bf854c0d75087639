"""Reading SQuAD-format files: answers located, ids unique, bad files refused in one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qa.errors import InputError
from qa.squad import read_squad


def _write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "squad.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def test_answers_are_located_in_their_context(tmp_path: Path) -> None:
    context = "小镇规划面积3.32平方公里，位于赤岸镇。赤岸镇在南。"
    path = _write(tmp_path, {"data": [{"title": " 小镇 ", "paragraphs": [{"context": context, "qas": [
        {"id": "a", "question": "面积？", "answers": [{"text": "3.32平方公里", "answer_start": 6}]},
        {"id": "b", "question": "在哪？", "answers": [{"text": "赤岸镇", "answer_start": 3}]},  # wrong start
        {"id": "c", "question": "谁？", "answers": [{"text": "不在文中", "answer_start": 0}, {"text": " "}]},
    ]}]}]})
    [para] = read_squad(path)
    assert (para.doc, para.n, para.title, para.context) == (0, 0, "小镇", context)
    a, b, c = para.questions
    assert a.answers == (("3.32平方公里", 6),) and context[6:6 + 8] == "3.32平方公里"
    assert b.answers == (("赤岸镇", context.index("赤岸镇")),)
    assert c.answers == (("不在文中", -1),)  # blank answers dropped; the unknown one kept with -1
    assert a.answerable and c.answerable


def test_ids_are_made_unique_and_impossible_questions_marked(tmp_path: Path) -> None:
    qas = [{"id": "x", "question": "一？", "answers": [{"text": "一", "answer_start": 0}]},
           {"id": "x", "question": "二？", "answers": [], "is_impossible": True},
           {"question": "三？", "answers": [{"text": "三", "answer_start": 2}]}]
    path = _write(tmp_path, {"data": [{"paragraphs": [{"context": "一二三", "qas": qas}]}]})
    ids = [q.id for q in read_squad(path)[0].questions]
    assert len(set(ids)) == 3 and ids[0] == "x"
    assert [q.answerable for q in read_squad(path)[0].questions] == [True, False, True]


@pytest.mark.parametrize(("content", "message"), [
    (None, "No SQuAD file"),
    ("not json", "not a SQuAD-format JSON file"),
    ({"version": 1}, "not a SQuAD-format JSON file"),
    ({"data": [{"paragraphs": [{"qas": []}]}]}, "malformed SQuAD entry"),
    ({"data": [{"paragraphs": [{"context": "x", "qas": []}]}]}, "holds no questions"),
])
def test_bad_files_are_refused(tmp_path: Path, content: object, message: str) -> None:
    path = tmp_path / "squad.json"
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    elif content is not None:
        path = _write(tmp_path, content)
    with pytest.raises(InputError, match=message) as err:
        read_squad(path)
    assert "\n" not in str(err.value)
