"""Passages: whole sentences, offsets into the body, overlap, stable ids."""

from __future__ import annotations

import pytest

from qa.editions.chunk import (
    chunk_article,
    chunk_articles,
    embedding_text,
    headline_text,
    passage_id,
)
from qa.text import split_sentences
from qa.types import Article

BODY = (
    "近日，浙江省政府办公厅下发通知，义乌绿色动力小镇入榜。"
    "义乌绿色动力小镇位于赤岸镇与佛堂镇交界处，规划面积 3.32 平方公里。\n"
    "2015年5月，小镇招引了第一个产业项目——总投资20.65亿元的吉利集团锋锐发动机项目；"
    "2015年9月，小镇入选金华市级特色小镇创建名单；2017年7月，小镇入选省级特色小镇第三批创建名单。\n"
    "“招商引资是小镇的活力来源。”义乌经济技术开发区相关负责人介绍，今年 8 月 23 日，"
    "总投资 206 亿元的东方日升 15GW 高效电池及组件项目落地。9月23日，项目正式开工建设。"
)


def _article(body: str = BODY, aid: str = "2020-11-14-p01-01", **kw: object) -> Article:
    return Article(id=aid, date="2020-11-14", page=1, headline="义乌绿色动力小镇获命名", body=body, **kw)


@pytest.mark.parametrize("size", [40, 80, 150, 200, 1000])
def test_passages_are_whole_sentences_with_exact_offsets(size: int) -> None:
    art = _article()
    passages = chunk_article(art, size=size)
    sentence_starts = {a for a, _ in split_sentences(BODY)}
    sentence_ends = {b for _, b in split_sentences(BODY)}
    assert passages
    for p in passages:
        assert p.text == art.body[p.start:p.end]
        assert p.article_id == art.id
        assert p.start in sentence_starts and p.end in sentence_ends
        assert p.id == passage_id(art.id, p.start, p.end)
    # every sentence is in some passage, in order
    covered = [(p.start, p.end) for p in passages]
    assert covered == sorted(covered)
    for a, b in split_sentences(BODY):
        assert any(s <= a and b <= e for s, e in covered)


def test_size_is_respected_unless_a_sentence_is_longer() -> None:
    for p in chunk_article(_article(), size=80):
        sentences = [s for s in split_sentences(BODY) if p.start <= s[0] and s[1] <= p.end]
        assert p.end - p.start <= 80 or len(sentences) == 1


def test_one_sentence_overlap() -> None:
    passages = chunk_article(_article(), size=80, overlap=1)
    assert len(passages) >= 3
    overlapping = [
        (a, b) for a, b in zip(passages, passages[1:]) if b.start < a.end
    ]
    assert overlapping
    sentences = split_sentences(BODY)
    for a, b in overlapping:
        # the shared part is exactly the last sentence of the previous passage
        last = [s for s in sentences if s[1] == a.end][0]
        assert b.start == last[0]
    for a, b in zip(passages, passages[1:]):
        assert b.end > a.end  # always something new


def test_no_overlap_when_disabled() -> None:
    passages = chunk_article(_article(), size=80, overlap=0)
    for a, b in zip(passages, passages[1:]):
        assert b.start >= a.end


def test_long_sentence_is_split_at_clauses() -> None:
    body = "，".join(f"第{i}个分句讲的是一件事情" for i in range(40)) + "。"
    art = _article(body)
    passages = chunk_article(art, size=60)
    assert len(passages) > 5
    for p in passages:
        assert p.text == body[p.start:p.end]
        assert p.end - p.start <= 120
    text = "".join(body[p.start:p.end] for p in chunk_article(art, size=60, overlap=0))
    assert text == body


def test_never_crosses_articles() -> None:
    a1 = _article(aid="a1")
    a2 = _article("另一篇文章的第一句。第二句。", aid="a2")
    passages = chunk_articles([a1, a2], size=80)
    by_article = {p.article_id for p in passages}
    assert by_article == {"a1", "a2"}
    for p in passages:
        body = a1.body if p.article_id == "a1" else a2.body
        assert p.text == body[p.start:p.end]


def test_empty_body_gets_one_headline_passage() -> None:
    brief = Article(id="b1", date="2020-11-14", page=1, kind="brief", headline="义乌发布新政", kicker="快讯")
    passages = chunk_article(brief)
    assert len(passages) == 1
    p = passages[0]
    assert (p.start, p.end, p.text) == (0, 0, "")
    assert p.id == passage_id("b1", 0, 0)
    assert embedding_text(brief, p) == "快讯 义乌发布新政"
    assert headline_text(brief) == "快讯 义乌发布新政"


def test_photo_caption_is_a_passage() -> None:
    photo = Article(id="ph", date="2020-11-14", page=1, kind="photo", body="工人在车间内组装发动机。")
    passages = chunk_article(photo)
    assert [p.text for p in passages] == ["工人在车间内组装发动机。"]
    assert embedding_text(photo, passages[0]).endswith("\n工人在车间内组装发动机。")


def test_embedding_text_prefixes_title_not_display_text() -> None:
    art = _article(kicker="特色小镇")
    p = chunk_article(art)[0]
    assert embedding_text(art, p) == "特色小镇 义乌绿色动力小镇获命名\n" + p.text
    assert not p.text.startswith("义乌绿色动力小镇获命名")


def test_passage_ids_are_stable_positive_int63() -> None:
    ids = {passage_id(f"a{i}", i, i + 10) for i in range(2000)}
    assert len(ids) == 2000
    assert all(0 < i < 2**63 for i in ids)
    assert passage_id("x", 1, 2) == passage_id("x", 1, 2) != passage_id("x", 1, 3)
    assert [p.id for p in chunk_article(_article())] == [p.id for p in chunk_article(_article())]


def test_bad_settings() -> None:
    with pytest.raises(ValueError):
        chunk_article(_article(), size=0)
    with pytest.raises(ValueError):
        chunk_article(_article(), overlap=-1)
