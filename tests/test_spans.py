"""Answer types and short-answer spans over hand-made extracts (OCR spaces included)."""

from __future__ import annotations

import pytest

from qa.spans import (
    DATE, PERSON, PLACE, QUANTITY, REASON, WHAT, YESNO, answer_type, best_clause, question_terms,
    short_answer_span, unit_hint,
)

GREEN = "义乌绿色动力小镇位于赤岸镇与佛堂镇交界处，规划面积 3.32 平方公里。"
SOLAR = "今年 8 月 23 日，总投资 206 亿元的东方日升 15GW 高效电池及组件项目落地，9 月23日，项目正式开工建设。"
RACE = "本届赛事分为半程马拉松、迷你健身跑和亲子健身跑三大项目，共有近10000人参与。"
ROUTE = "参赛选手在经过义乌港之后将从西城北路进入义乌植物园，在这座“城市绿肺”中穿行4公里，然后沿大通路冲回终点。"
DESIGN = "委托世界一流的设计公司德国欧博迈亚公司完成了小镇的总体规划和城市设计，由资深城市规划师川崎晴朗先生担任设计总监。"
US = "本报讯 11月13日，美国馆开馆仪式在义乌中国进口商品城孵化区举行。"
TRADE = "今年前三季度，义乌对美贸易总值 236.5 亿元，增长 85.6%，占义乌市外贸进出口总值的 10.2%。"


@pytest.mark.parametrize(("question", "kind"), [
    ("义乌绿色动力小镇的规划面积是多少？", QUANTITY),
    ("新增的植物园赛道有多长？", QUANTITY),
    ("How many people took part?", QUANTITY),
    ("它的面积呢？", QUANTITY),
    ("东方日升项目什么时候开工？", DATE),
    ("小镇哪年进入省级特色小镇创建名单？", DATE),
    ("When did the US pavilion open?", DATE),
    ("谁担任设计总监？", PERSON),
    ("小镇的总体规划是哪家公司做的？", PERSON),
    ("Which city leaders attended the meeting?", PERSON),
    ("美国馆开馆仪式在哪里举行？", PLACE),
    ("Where is the town?", PLACE),
    ("本届赛事分为哪些项目？", WHAT),
    ("为什么要新增植物园赛道？", REASON),
    ("How is the safety of the race ensured?", REASON),
    ("义乌明天会下雨吗？", YESNO),
])
def test_answer_type(question: str, kind: str) -> None:
    assert answer_type(question) == kind


@pytest.mark.parametrize(("extract", "question", "expected"), [
    (GREEN, "义乌绿色动力小镇的规划面积是多少？", "3.32 平方公里"),
    (ROUTE, "新增的植物园赛道有多长？", "4公里"),
    (ROUTE, "How long is the new botanical garden section?", "4公里"),
    (SOLAR, "东方日升项目总投资多少？", "206 亿元"),
    (RACE, "义马共有多少人参与？", "近10000人"),
    (TRADE, "义乌对美贸易总值增长了多少？", "85.6%"),
    (TRADE, "今年前三季度义乌对美贸易总值是多少？", "236.5 亿元"),
    (SOLAR, "东方日升项目什么时候开工？", "9 月23日"),
    (US, "美国馆什么时候开馆？", "11月13日"),
    (DESIGN, "谁担任小镇的设计总监？", "川崎晴朗先生"),
    (DESIGN, "小镇的总体规划由哪家公司完成？", "德国欧博迈亚公司"),
    ("市领导王健、骆小俊参加会议。", "哪些市领导参加了会议？", "王健、骆小俊"),
    ("上海酒消费信息中 心 秘 书 长 许 竣 哲说：“此次参加义乌进口博览会”", "上海酒消费信息中心秘书长是谁？", "许 竣 哲"),
    (GREEN, "义乌绿色动力小镇位于哪里？", "赤岸镇与佛堂镇交界处"),
    (US, "美国馆开馆仪式在哪里举行？", "义乌中国进口商品城孵化区"),
    (US, "Where was the opening ceremony of the US pavilion held?", "义乌中国进口商品城孵化区"),
    (RACE, "本届赛事分为哪些项目？", "半程马拉松、迷你健身跑和亲子健身跑三大"),
])
def test_short_answer_is_an_exact_substring(extract: str, question: str, expected: str) -> None:
    span = short_answer_span(extract, question)
    assert span is not None
    assert extract[span[0]:span[1]] == expected


@pytest.mark.parametrize(("extract", "question"), [
    (GREEN, "美国馆的门票多少钱？"),  # a quantity, but not in yuan: leave it empty
    (GREEN, "绿色动力小镇有多少名员工？"),
    (RACE, "为什么要新增植物园赛道？"),  # reason questions get no short answer
    (GREEN, "义乌明天会下雨吗？"),
    (GREEN, "小镇什么时候通过验收？"),  # no date in the extract
    ("", "规划面积是多少？"),
])
def test_no_span_of_the_expected_type_gives_none(extract: str, question: str) -> None:
    assert short_answer_span(extract, question) is None


def test_span_already_in_the_question_is_not_the_answer() -> None:
    text = "2015年5月，小镇招引了第一个产业项目；2017年7月，小镇入选省级特色小镇第三批创建名单。"
    span = short_answer_span(text, "2017年7月小镇入选了什么名单？", kind=DATE)
    assert span is None or text[span[0]:span[1]] != "2017年7月"


def test_unit_hint_prefers_the_words_next_to_the_question_word() -> None:
    assert "%" in unit_hint("义乌对美贸易总值增长了多少？")
    assert "元" not in unit_hint("义乌对美贸易总值增长了多少？")
    assert "元" in unit_hint("锋锐发动机项目投资了多少钱？")
    assert "家" in unit_hint("一共有多少家展商？")


def test_question_terms_drop_question_words() -> None:
    terms = question_terms("规划面积是多少？")
    assert "规划" in terms and "面积" in terms
    assert not any("多少" in t for t in terms)
    assert question_terms("How long is the 2020 course?") == ["2020", "course"]


def test_best_clause_marks_the_clause_sharing_most_words() -> None:
    span = best_clause(GREEN, "规划面积是多少？")
    assert span is not None
    assert GREEN[span[0]:span[1]] == "规划面积 3.32 平方公里"
    assert best_clause(GREEN, "Who won?") is None
