"""Names written in pinyin, found as the Chinese text prints them."""

from __future__ import annotations

from qa.language.pinyin import characters, indexed_names, name_runs, readings, spelled, syllables
from qa.language.translate import NameGroup, coverage_terms, holds, lexical_question, translate_question


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


def test_characters_read_a_syllable():
    assert "叶" in characters("ye") and "乔" in characters("qiao") and "波" in characters("bo")
    assert characters("lv") and all("lv" in readings()[c] for c in characters("lv"))
    assert characters("xyz") == ()


def test_indexed_names_are_the_terms_that_spell_a_name():
    vocabulary = sorted(["叶乔波", "叶片", "夜空", "李成", "李成栋", "里程", "李", "历程表", "乔波"])
    asked: list[str] = []

    def terms_from(prefix: str, limit: int) -> list[str]:
        asked.append(prefix)
        return [t for t in vocabulary if t.startswith(prefix)][:limit]

    assert indexed_names(("ye", "qiao", "bo"), terms_from) == ["叶乔波"]
    assert set(asked) == set(characters("ye"))  # one lookup for each character of the first syllable
    # a name the segmenter split: its head as well, the whole name first
    assert indexed_names(("li", "cheng", "dong"), terms_from) == ["李成栋", "李成", "里程"]
    assert indexed_names(("li",), terms_from) == []
    assert indexed_names(("zhang", "shi", "chang"), terms_from) == []
    # where a character's terms fill the limit, they are asked for by two characters
    asked.clear()
    assert indexed_names(("li", "cheng", "dong"), terms_from, limit=2) == ["李成栋", "李成", "里程"]
    assert "李" in asked and "李成" in asked  # 李 has three terms: narrowed
    assert "里" in asked and "里程" not in asked  # 里 has one: read as it is


def test_lexical_search_asks_for_the_indexed_spelling_of_a_name():
    vocabulary = ["叶乔波", "叶片"]

    def terms_from(prefix: str, limit: int) -> list[str]:
        return [t for t in vocabulary if t.startswith(prefix)][:limit]

    question = "What sport did Ye Qiaobo compete in?"
    assert "叶乔波" in lexical_question(question, terms_from).split()
    assert "叶乔波" not in lexical_question(question)  # without the index's terms
    assert lexical_question("叶乔波是什么运动员？", terms_from) == "叶乔波是什么运动员？"  # Chinese as asked


def test_a_name_in_pinyin_finds_its_passage_in_a_real_store(tmp_path):
    from qa.editions.chunk import chunk_articles
    from qa.store.sqlite import Store
    from qa.types import Article

    arts = [
        Article(id="a1", date="2020-11-14", page=1, headline="速度滑冰名将",
                body="叶乔波，籍贯吉林长春，前中国女子速度滑冰运动员，曾夺得世锦赛冠军和三枚奥运会奖牌。"),
        Article(id="a2", date="2020-11-14", page=1, headline="短道速滑名将",
                body="王濛，黑龙江七台河人，中国女子短道速滑运动员，曾夺得四枚奥运会金牌。"),
    ]
    store = Store(tmp_path / "store.sqlite")
    try:
        store.add_edition("2020-11-14", 1, arts, chunk_articles(arts, size=200), source="t.txt", sha256="ab")
        question = "What sport did Ye Qiaobo compete in?"
        asked = lexical_question(question, store.terms_from)
        assert "叶乔波" in asked.split()
        top = store.passages([store.search(asked)[0][0]])[0]
        assert top.article_id == "a1"
        hits = store.search(asked)
        assert len(hits) == 1 or hits[0][1] > hits[1][1]  # the name decides, not the shared words
    finally:
        store.close()
