"""Question language, and English questions as Chinese dictionary terms (the shipped CC-CEDICT)."""

from __future__ import annotations

import pytest

from qa.language.translate import lemmas, question_language, translate_question


@pytest.mark.parametrize("text, lang", [
    ("How long is the new track?", "en"),
    ("新增的植物园赛道有多长？", "zh"),
    ("TOP50全球精品葡萄酒评选大赛在哪里举行？", "zh"),  # a Latin name in a Chinese question
    ("AR指挥系统和无人机反制系统是什么？", "zh"),
    ("徐晓飞 is what occupation?", "en"),  # code-switched: English words, a Chinese name
    ("What is 川崎晴朗's role?", "en"),
    ("🙂🙂🙂?", "zh"),
    ("!!!", "zh"),
    ("x", "en"),
])
def test_question_language(text, lang):
    assert question_language(text) == lang


def test_lemmas_undo_inflections():
    assert "plan" in lemmas("planned")
    assert "issue" in lemmas("issued")
    assert "business" in lemmas("businesses")
    assert "take" in lemmas("taking")
    assert lemmas("won") == ["win", "won"]  # irregular: not the Korean currency
    assert lemmas("town")[0] == "town"
    assert lemmas("children's")[:2] == ["children's", "child"]  # a possessive, then its word's lemmas


def test_a_word_has_the_candidates_of_all_its_forms():
    # "funding" as written is only 招商 ("to seek funding"); as "fund" it is 基金, 出资...; taken
    # in turn, the word as written first
    by_word = {x.english: x.chinese for x in translate_question("How much funding did the town get?").terms}
    assert by_word["funding"][0] == "招商" and {"基金", "出资"} <= set(by_word["funding"])
    by_word = {x.english: x.chinese for x in translate_question("What did Yiwu trade in three quarters?").terms}
    assert "季度" in by_word["quarters"] and by_word["quarters"][0] == "营房"
    assert len(by_word["quarters"]) == len(set(by_word["quarters"]))
    assert "儿童" in next(x for x in translate_question("Which children's race?").terms
                        if x.english == "children's").chinese


def test_terms_phrases_question_words_and_literals():
    t = translate_question("How long is the new botanical garden section of the 2020 half marathon?")
    kinds = [(x.english, x.kind) for x in t.terms]
    assert ("How long", "wh") in kinds
    assert ("botanical garden", "word") in kinds  # the longest phrase, not "garden" alone
    assert ("2020", "literal") in kinds
    assert ("half marathon", "word") in kinds  # found hyphenated: "half-marathon"
    assert not any(x.english.lower() in ("is", "the", "of") for x in t.terms)
    garden = next(x for x in t.terms if x.english == "botanical garden")
    assert garden.chinese[0] == "植物园"


def test_inflected_phrase_and_acronym():
    t = translate_question("How many people are taking part in the US race?")
    by_word = {x.english: x.chinese for x in t.terms}
    assert "参加" in by_word["taking part"]
    assert by_word["US"][0] == "美国"


def test_the_passages_choose_the_candidate():
    t = translate_question("What is the area of the town?")
    area = next(x for x in t.terms if x.english == "area")
    assert "面积" in area.chinese and area.chinese[0] != "面积"
    question = t.reader_question(["小镇规划面积3.32平方公里。"])
    terms, asked = question.split("？ ", 1)
    assert "面积" in terms and terms.endswith("什么") and asked == t.question
    # with no passage printing any candidate, the best-ranked one is read
    assert area.chinese[0] in t.reader_question([])


def test_lexical_text_holds_candidates_and_literals():
    t = translate_question("Which Yiwu bank issued 4.78 of AR loans?")
    text = t.lexical_text()
    assert "义乌" in text and "银行" in text
    assert "4.78" in text and "AR" in text


def test_lexical_text_asks_for_the_candidates_the_index_holds():
    from qa.language.translate import LEXICAL_HELD, LEXICAL_TOP, lexical_question

    t = translate_question("How many people are taking part in the race?")
    part = next(term for term in t.terms if term.english == "taking part")
    assert len(part.chinese) > LEXICAL_TOP
    # the index holds only the last candidate: it is asked for, the ones it lacks are not
    last = part.chinese[-1]
    text = t.lexical_text(lambda word: word == last).split()
    assert last in text and not set(part.chinese[:-1]) & set(text)
    # holding every candidate: the best LEXICAL_HELD of each term
    held = t.lexical_text(lambda word: True).split()
    assert [c for c in held if c in part.chinese] == list(part.chinese[:LEXICAL_HELD])
    # through an index's terms (one lookup a term, cached per question)
    vocabulary = sorted({last, "人们"})
    calls = []

    def terms_from(prefix: str, limit: int) -> list[str]:
        calls.append(prefix)
        return [w for w in vocabulary if w.startswith(prefix)][:limit]

    asked = lexical_question(t.question, terms_from).split()
    assert last in asked and "人们" in asked and part.chinese[0] not in asked
    assert len(calls) == len(set(calls))


def test_code_switched_question_keeps_its_chinese():
    t = translate_question("徐晓飞 is what occupation?")
    assert t.reader_question([]) == "徐晓飞职业什么？ 徐晓飞 is what occupation?"


def test_noise_translates_to_little():
    assert translate_question("🙂🙂🙂?").terms == ()
    assert translate_question("asdfghjkl").known == 0


def test_coverage_terms_group_each_english_term_with_its_candidates():
    from qa.language.translate import coverage_terms

    groups = coverage_terms("How large is the botanical garden course in Yiwu?")
    flat = [g for group in groups for g in group]
    garden = next(g for g in groups if "植物园" in g)
    assert "botanical garden" in garden  # the English words count as printed too
    assert ("how",) not in groups and not any("多大" in g for g in groups)  # question words cover nothing
    assert any("义乌" in g for g in groups) and flat.count("义乌") == 1
    # A Chinese question: each of its terms alone, as the re-ranker always counted them.
    assert coverage_terms("植物园赛道多长？") == [("植物",), ("物园",), ("园赛",), ("赛道",)]
