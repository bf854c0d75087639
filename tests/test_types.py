"""Core types: JSON round trips, derived titles, stable hashes."""

from __future__ import annotations

import json

from qa.types import Answer, Article, Citation, Hit, Passage, derive_title, stable_hash


def _article(**kw) -> Article:
    base = dict(id="a1", date="2020-11-14", page=1, headline="标题", byline=("全媒体记者 王婷", "通讯员 金巧"),
                subheads=("招商引资 注入强劲动能",), body="近日，小镇入榜。\n第二段。")
    base.update(kw)
    return Article(**base)


def test_article_round_trip_through_json():
    a = _article(kicker="从无到有 从有到优", continued_to="第二版")
    d = json.loads(json.dumps(a.to_dict(), ensure_ascii=False))
    assert d["byline"] == ["全媒体记者 王婷", "通讯员 金巧"]
    assert d["title"] == "标题"
    assert Article.from_dict(d) == a


def test_title_is_derived_from_the_lead_when_no_headline():
    a = _article(headline="", body="本报讯 11 月 13 日下午，我市召开健康义乌暨综合医改领导小组工作会议。")
    assert a.title == "我市召开健康义乌暨综合医改领导小组工作会议"
    assert derive_title("近日，浙江省政府办公厅下发通知，小镇入榜。") == "浙江省政府办公厅下发通知"
    assert derive_title("一二三四五六七八九十一二三四五六七八九十。", limit=10) == "一二三四五六七八九十…"
    assert derive_title("") == ""


def test_hit_citation_answer_round_trip():
    a = _article()
    p = Passage(id=123, article_id="a1", start=0, end=8, text=a.body[0:8])
    hit = Hit(passage=p, article=a, rank=1, score=0.5, dense=0.8, lexical=None)
    cit = Citation(n=1, article=a, extract="近日，小镇入榜。", start=0, end=8, highlight=(3, 5), score=0.9)
    ans = Answer(question="q", resolved_question="q", short_answer="小镇", citations=(cit,),
                 confidence=0.7, no_answer=False, hits=(hit,))
    back = Answer.from_dict(json.loads(json.dumps(ans.to_dict(), ensure_ascii=False)))
    assert back == ans
    assert back.hits == (hit,)
    assert back.citations[0].highlight == (3, 5)


def test_stable_hash_is_deterministic_and_sensitive():
    assert stable_hash("2020-11-14", 1, 0, "text") == stable_hash("2020-11-14", 1, 0, "text")
    assert stable_hash("2020-11-14", 1, 0, "text") != stable_hash("2020-11-14", 1, 1, "text")
    assert len(stable_hash("x", length=16)) == 16
