"""Names written in pinyin, found as the Chinese text prints them."""

from __future__ import annotations

from qa.language.pinyin import name_runs, readings, spelled, syllables
from qa.language.translate import NameGroup, coverage_terms, holds, translate_question


def test_readings_come_from_the_dictionary():
    table = readings()
    assert "bai" in table["白"] and "yue" in table["岳"]
    assert {"xing", "hang"} <= table["行"]  # every reading of a character
    assert all(any(v in r for v in "aeiouv") for values in table.values() for r in values)


def test_words_split_into_syllables():
    assert syllables("Yuefeng") == ("yue", "feng")
    assert syllables("Xi'an") == ("xi", "an")
    assert syllables("Youyuan's") == ("you", "yuan")
    assert syllables("Petrucci") == () and syllables("Kwok-fan") == () and syllables("What") == ()


def test_names_are_capitalized_pinyin_words_in_a_row():
    words = [("Which", False), ("team", True), ("does", False), ("Bai", True), ("Yuefeng", False),
             ("play", True)]
    assert name_runs(words) == [(("bai", "yue", "feng"), (3, 4))]
    # known English words of two syllables or more never start a name; a lone syllable is no name
    assert name_runs([("China", True), ("State", True)]) == []
    assert name_runs([("Canada", True), ("Place", True)]) == []
    assert name_runs([("Guo", True), ("Lin", True), ("die", True)]) == [(("guo", "lin"), (0, 1))]
    assert name_runs([("Can", True), ("you", False)]) == []


def test_spelled_finds_the_printed_characters():
    text = "白岳峰（），朝鲜族，曾用名白磊，中国足球运动员。"
    assert spelled(("bai", "yue", "feng"), [text]) == ["白岳峰"]
    assert spelled(("si", "ma", "yan"), ["司马晏，字平度，晋武帝司马炎之子。"]) == ["司马晏", "司马炎"]
    assert spelled(("bai", "yue", "feng"), ["今天下雨。"]) == []


def test_a_name_is_one_coverage_group_held_by_its_characters():
    question = "Which team does Bai Yuefeng play for now?"
    groups = coverage_terms(question)
    names = [g for g in groups if isinstance(g, NameGroup)]
    assert len(names) == 1 and names[0].sounds == ("bai", "yue", "feng")
    assert not any("白族" in g for g in groups)  # "Bai" is the name here, not the Bai people
    assert holds("白岳峰现效力于天津泰达。", names[0]) and holds("bai yuefeng plays.", names[0])
    assert not holds("白云山很高。", names[0])


def test_the_reader_reads_the_name_as_printed():
    t = translate_question("What does Xu Xiaofei do for a living?")
    assert t.reader_question(["徐晓飞是中国足球运动员。"]).startswith("徐晓飞")
    # not printed: the words stay as written
    assert "Xu Xiaofei" in t.reader_question(["今天下雨。"]).split("？")[0]
