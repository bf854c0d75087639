"""English and code-switched questions made from Chinese ones (`bench gloss`)."""

from __future__ import annotations

import json
import random

import pytest

from qa.errors import InputError
from qa.language.glossed import WRITTEN, english_order, gloss_question, gloss_squad, word_gloss, written_squad
from qa.language.translate import question_language


def test_word_gloss_first_meaning_without_notes():
    assert word_gloss("马拉松") == "marathon"
    assert word_gloss("面积") == "area"
    assert word_gloss("锟斤拷锟") == ""


def test_whole_question_glossed_names_kept():
    q = gloss_question("徐晓飞是什么职业？")
    assert q == "徐晓飞 is what occupation?"
    assert question_language(q) == "en"


def test_share_glosses_part_of_the_words():
    full = gloss_question("义乌马拉松的赛道有多长？")
    part = gloss_question("义乌马拉松的赛道有多长？", share=0.3, rng=random.Random(1))
    assert "marathon" in full and "race course" in full and "how long" in full
    english_words = lambda s: sum(w.isascii() for w in s.rstrip("?").split())  # noqa: E731
    assert 0 < english_words(part) < english_words(full)


def test_gloss_squad_round_trip(tmp_path):
    src = tmp_path / "in.json"
    src.write_text(json.dumps({"data": [{"title": "t", "paragraphs": [{"context": "赛道长4公里。", "qas": [
        {"id": "a", "question": "赛道有多长？", "answers": [{"text": "4公里", "answer_start": 3}]}]}]}]},
        ensure_ascii=False), encoding="utf-8")
    report = gloss_squad(src, tmp_path / "out.json")
    out = json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))
    qa = out["data"][0]["paragraphs"][0]["qas"][0]
    assert qa["question"] == "race course 有 how long?"  # a single character stays Chinese
    assert qa["answers"] == [{"text": "4公里", "answer_start": 3}]
    assert report["questions"] == 1 and report["wholly_english"] == 0
    assert out["glossed"]["dictionary"].startswith("CC-CEDICT")


def test_english_order_puts_the_question_word_first():
    assert english_order("徐晓飞 of occupation is what?") == "what is 徐晓飞 of occupation?"
    assert english_order("race course 有 how long?") == "how long race course 有?"
    assert english_order("Yiwu marathon what time 开跑?") == "what time Yiwu marathon 开跑?"
    # already first, or no English question word: as it was
    assert english_order("who is design head?") == "who is design head?"
    assert english_order("徐晓飞 occupation?") == "徐晓飞 occupation?"
    # a word that only holds a question word is not one ("somewhat", "whoever")
    assert english_order("somewhat whoever?") == "somewhat whoever?"


def test_gloss_squad_fronts_a_share_of_the_english_questions(tmp_path):
    src = tmp_path / "in.json"
    qas = [{"id": str(i), "question": "赛道有多长？", "answers": [{"text": "4公里", "answer_start": 3}]} for i in range(40)]
    src.write_text(json.dumps({"data": [{"title": "t", "paragraphs": [{"context": "赛道长4公里。", "qas": qas}]}]},
                              ensure_ascii=False), encoding="utf-8")
    report = gloss_squad(src, tmp_path / "out.json", fronted=0.5, seed=3)
    asked = [q["question"] for q in json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))
             ["data"][0]["paragraphs"][0]["qas"]]
    assert set(asked) == {"race course 有 how long?", "how long race course 有?"}
    assert report["fronted"] == asked.count("how long race course 有?")
    assert 10 <= report["fronted"] <= 30


def test_gloss_squad_refuses_bad_input(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(InputError, match="cannot read"):
        gloss_squad(bad, tmp_path / "out.json")
    with pytest.raises(InputError, match="--share"):
        gloss_squad(bad, tmp_path / "out.json", share=0)


def _squad(tmp_path, qas_per_para):
    src = tmp_path / "in.json"
    src.write_text(json.dumps({"data": [{"title": "t", "paragraphs": [
        {"context": f"段落{n}。", "qas": [{"id": qid, "question": "问题？", "answers": [{"text": "段落", "answer_start": 0}]}
                                          for qid in ids]} for n, ids in enumerate(qas_per_para)]}]},
        ensure_ascii=False), encoding="utf-8")
    return src


def test_written_squad_asks_only_the_written_questions_and_keeps_every_paragraph(tmp_path):
    src = _squad(tmp_path, [["a", "b"], ["c"], []])
    written = tmp_path / "w.jsonl"
    written.write_text(json.dumps({"id": "b", "question": "Which paragraph?"}) + "\n", encoding="utf-8")
    report = written_squad(src, tmp_path / "out.json", written)
    paras = json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))["data"][0]["paragraphs"]
    assert len(paras) == 3 and report["questions"] == 1
    assert [q["question"] for q in paras[0]["qas"]] == ["Which paragraph?"]
    assert paras[0]["qas"][0]["answers"] == [{"text": "段落", "answer_start": 0}]
    assert paras[1]["qas"] == [] and paras[2]["qas"] == []


def test_written_squad_asks_one_part(tmp_path):
    src = _squad(tmp_path, [["a", "b"], ["c"]])
    written = tmp_path / "w.jsonl"
    written.write_text("".join(json.dumps({"id": i, "part": p, "question": f"Q {i}?"}) + "\n"
                               for i, p in [("a", "A"), ("b", "B"), ("c", "B")]), encoding="utf-8")
    assert written_squad(src, tmp_path / "b.json", written, part="B")["questions"] == 2
    paras = json.loads((tmp_path / "b.json").read_text(encoding="utf-8"))["data"][0]["paragraphs"]
    assert [[q["id"] for q in p["qas"]] for p in paras] == [["b"], ["c"]]
    with pytest.raises(InputError, match="part 'C'"):
        written_squad(src, tmp_path / "c.json", written, part="C")
    assert not (tmp_path / "c.json").exists()


def test_written_squad_can_add_glossed_questions_from_the_second_half(tmp_path):
    src = _squad(tmp_path, [["a", "b"], ["c", "d"], ["e", "f"]])
    written = tmp_path / "w.jsonl"
    written.write_text(json.dumps({"id": "e", "question": "Which paragraph?"}) + "\n", encoding="utf-8")
    report = written_squad(src, tmp_path / "out.json", written, glossed_every=1)
    paras = json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))["data"][0]["paragraphs"]
    # questions 3..5 are the second half: d and f glossed, e as written; a, b, c not asked
    assert [[q["id"] for q in p["qas"]] for p in paras] == [[], ["d"], ["e", "f"]]
    assert report == {"questions": 1, "glossed": 2, "out": str(tmp_path / "out.json")}
    assert paras[1]["qas"][0]["question"] == gloss_question("问题？") != "问题？"
    assert paras[2]["qas"][0]["question"] == "Which paragraph?"


def test_written_squad_refuses_unknown_ids_and_bad_files(tmp_path):
    src = _squad(tmp_path, [["a"]])
    written = tmp_path / "w.jsonl"
    written.write_text(json.dumps({"id": "zz", "question": "Which?"}) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match="not in"):
        written_squad(src, tmp_path / "out.json", written)
    written.write_text("{oops\n", encoding="utf-8")
    with pytest.raises(InputError, match="cannot read"):
        written_squad(src, tmp_path / "out.json", written)
    assert not (tmp_path / "out.json").exists()


def test_the_bundled_written_questions_are_english_and_unique():
    rows = [json.loads(line) for line in WRITTEN.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 504 and len({r["id"] for r in rows}) == 504
    assert all(r["id"].startswith("DEV_") for r in rows)
    parts = [r["part"] for r in rows]
    assert (parts.count("A"), parts.count("B"), parts.count("C")) == (101, 202, 201)
    assert all(question_language(r["question"]) == "en" for r in rows)
