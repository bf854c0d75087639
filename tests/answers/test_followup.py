"""Follow-up resolution against the conversation."""

from __future__ import annotations

import pytest

from qa.answers.followup import candidate_questions, history_questions, previous_articles, resolve_question
from qa.types import Answer, Article, Citation


@pytest.mark.parametrize(("question", "turns", "expected"), [
    ("它的面积呢？", ["义乌绿色动力小镇是什么时候通过命名验收的？"], "义乌绿色动力小镇的面积呢？"),
    ("它位于哪里？", ["义乌绿色动力小镇的规划面积是多少？"], "义乌绿色动力小镇位于哪里？"),
    ("它的投资是多少？", ["东方日升项目什么时候开工？"], "东方日升项目的投资是多少？"),
    ("他们什么时候开工的？", ["东方日升项目总投资多少？"], "东方日升项目什么时候开工的？"),
    ("那马拉松呢？", ["美国馆什么时候开馆？"], "马拉松什么时候开馆？"),
    ("那面积呢？", ["美国馆什么时候开馆？"], "美国馆的面积？"),
    ("那年龄最小的呢？", ["2020年义马参赛选手中年龄最大的多少岁？"], "2020年义马参赛选手中年龄最小的多少岁？"),
    ("这个项目总投资多少？", ["小镇招引的第一个产业项目是什么？"], "小镇招引的第一个产业项目总投资多少？"),
    ("这个计划明年要走访多少个城市？", ["上海酒消费信息中心推出了什么计划？"],
     "上海酒消费信息中心推出的计划明年要走访多少个城市？"),
    ("增长了多少？", ["今年前三季度义乌对美贸易总值是多少？"], "今年前三季度义乌对美贸易总值增长了多少？"),
    ("那什么时候开工？", ["东方日升的项目是什么时候落地的？", "总投资多少？"], "东方日升的项目什么时候开工？"),
    ("How big is it?", ["Where is the Yiwu Green Power Town?"], "How big is the Yiwu Green Power Town?"),
    ("What about its area?", ["When did the US pavilion open?"], "What about the US pavilion's area?"),
])
def test_follow_ups_are_resolved_with_the_previous_topic(question: str, turns: list[str], expected: str) -> None:
    assert resolve_question(question, turns) == expected


@pytest.mark.parametrize("question", [
    "义乌农商银行组建了多少支驻企金融队？",
    "美国馆的面积是多少？",
    "义马有多少人参加？",
    "Who won the 2020 US election?",
    "义乌明天会下雨吗？",
])
def test_self_contained_questions_are_unchanged(question: str) -> None:
    assert resolve_question(question, ["新增的植物园赛道有多长？"]) == question


def test_no_history_leaves_the_question_alone() -> None:
    assert resolve_question("它的面积呢？", None) == "它的面积呢？"
    assert resolve_question("它的面积呢？", []) == "它的面积呢？"


def _answer(question: str, resolved: str, article: Article, short: str = "") -> Answer:
    cite = Citation(1, article, article.body[:4], 0, 4)
    return Answer(question, resolved, short, (cite,), 0.9)


def test_history_of_answers_uses_their_resolved_questions_and_articles() -> None:
    art = Article(id="a1", date="2020-11-14", page=1, body="美国馆面积950平方米。")
    prev = _answer("它的面积呢？", "美国馆的面积呢？", art)
    assert history_questions([prev]) == ["美国馆的面积呢？"]
    assert previous_articles([prev]) == ["a1"]
    assert previous_articles(["美国馆的面积是多少？"]) == []
    assert resolve_question("它什么时候竣工的？", [prev]) == "美国馆什么时候竣工的？"


def test_person_follow_up_uses_the_previous_short_answer() -> None:
    art = Article(id="a2", date="2020-11-14", page=1, body="由川崎晴朗先生担任设计总监。")
    prev = _answer("谁担任设计总监？", "谁担任设计总监？", art, short="川崎晴朗")
    assert resolve_question("他是哪国人？", [prev]) == "川崎晴朗是哪国人？"


def test_candidates_add_the_question_asked_of_the_cited_article() -> None:
    art = Article(id="a3", date="2020-11-14", page=1, headline="2020年义乌国际半程马拉松今日开跑",
                  body="共有近10000人参与。")
    prev = _answer("新增的植物园赛道有多长？", "新增的植物园赛道有多长？", art)
    assert candidate_questions("那有多少人参加？", [prev]) == [
        "新增的植物园赛道有多少人参加？", "2020年义乌国际半程马拉松今日开跑：有多少人参加？"]
    # "那面积呢？" asks no question of its own: only the rules' rewrite
    assert candidate_questions("那面积呢？", [prev]) == ["新增的植物园赛道的面积？"]


def test_candidates_of_a_self_contained_question_or_without_answers() -> None:
    art = Article(id="a4", date="2020-11-14", page=1, headline="美国馆正式入驻", body="面积950平方米。")
    prev = _answer("美国馆的面积是多少？", "美国馆的面积是多少？", art)
    assert candidate_questions("义马有多少人参加？", [prev]) == ["义马有多少人参加？"]
    # a history of plain strings has no cited article: the rules' rewrite alone
    assert candidate_questions("它什么时候竣工的？", ["美国馆的面积是多少？"]) == ["美国馆什么时候竣工的？"]
    # an English follow-up over a Chinese headline keeps to the rules
    assert candidate_questions("When did it open?", [prev]) == [resolve_question("When did it open?", [prev])]
