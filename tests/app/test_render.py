"""HTML rendering of answers, citations, the source panel and the retrieved passages."""

from __future__ import annotations

import re

from qa.app import render
from qa.types import Answer, Article, Citation, Hit, Passage

BODY = ("本报讯 今年“义马”的半程项目赛道有较大调整。\n"
        "参赛选手将进入义乌植物园，在这座“城市绿肺”中穿行4公里，然后冲回终点。\n"
        "本届赛事共有近10000人参与。")
MARATHON = Article(
    id="a1", date="2020-11-14", page=1, headline="2020年义乌国际半程马拉松今日开跑",
    kicker="新丝路 跑起来", byline=("全媒体记者 卢丽珍",), body=BODY,
)
EXTRACT = "参赛选手将进入义乌植物园，在这座“城市绿肺”中穿行4公里，然后冲回终点。"
START = BODY.index(EXTRACT)
SPAN = (EXTRACT.index("4公里"), EXTRACT.index("4公里") + 3)


def cite(n: int = 1, article: Article = MARATHON, extract: str = EXTRACT, highlight=SPAN) -> Citation:
    start = article.body.find(extract)
    return Citation(n, article, extract, start, start + len(extract), highlight)


def answer(**kw) -> Answer:
    base = dict(question="新增的植物园赛道有多长？", resolved_question="新增的植物园赛道有多长？",
                short_answer="4公里", citations=(cite(),), confidence=0.9)
    base.update(kw)
    return Answer(**base)


EVIL = '<script>alert(1)</script><img src=x onerror="alert(2)"> & *bold* $x$'
EVIL_ARTICLE = Article(id="evil", date="2020-11-14", page=1, headline=EVIL, kicker=EVIL,
                       byline=(EVIL,), body=f"第一句。{EVIL}。最后一句。")


def no_raw_tags(html: str) -> None:
    assert "<script" not in html and "<img" not in html and "onerror=\"" not in html


def test_escape_neutralizes_html_markdown_and_newlines():
    out = render.escape(EVIL + "\nnext")
    assert "&lt;script&gt;" in out and "&lt;img" in out and "&quot;" in out and "&amp;" in out
    assert "*" not in out and "$" not in out and "<br>next" in out
    no_raw_tags(out)
    assert render.escape("&#x27;") == "&amp;&#35;x27;"  # entities in the text stay text


def test_mark_extract_places_span():
    html = render.mark_extract(EXTRACT, SPAN)
    assert re.search(r"<mark>4公里</mark>", html)
    assert html.count("<mark>") == 1
    assert render.mark_extract(EXTRACT, None) == render.escape(EXTRACT)
    assert "<mark>" not in render.mark_extract(EXTRACT, (5, 999))  # out of range: no mark


def test_mark_extract_escapes_inside_and_around_span():
    html = render.mark_extract("a<b>c", (1, 4))
    assert html == "a<mark>&lt;b&gt;</mark>c"


def test_render_answer_fields():
    html = render.render_answer(answer())
    assert '<p class="qa-short">4公里</p>' in html
    assert "<mark>4公里</mark>" in html
    assert "2020年义乌国际半程马拉松今日开跑" in html
    assert "全媒体记者 卢丽珍" in html and "2020-11-14" in html and "page 1" in html
    assert "[1]" in html
    assert "Understood as" not in html  # resolved == asked
    assert "quoted in Chinese" not in html
    assert "\n" not in html  # one HTML block for the chat's Markdown renderer


def test_render_answer_numbered_citations_and_derived_title():
    untitled = Article(id="b", date="2020-11-14", page=1, body="本报讯 义乌市召开卫生健康大会，部署工作。")
    second = cite(2, untitled, "义乌市召开卫生健康大会，部署工作。", None)
    html = render.render_answer(answer(citations=(cite(), second)))
    assert html.index("[1]") < html.index("[2]")
    assert untitled.title and untitled.title.startswith("义乌市召开卫生健康大会")
    assert f"<b class=\"qa-title\">{untitled.title}</b>" in html
    assert html.count("<mark>") == 1


def test_render_answer_resolved_question_and_english_note():
    html = render.render_answer(answer(question="参赛人数呢？", resolved_question="马拉松 参赛人数呢？"))
    assert "Understood as: <q>马拉松 参赛人数呢？</q>" in html
    english = render.render_answer(answer(question="How long is the new botanical garden route?",
                                          resolved_question="How long is the new botanical garden route?"))
    assert "quoted in Chinese" in english


def test_render_answer_no_answer_lists_related_reading_without_marks():
    html = render.render_answer(answer(short_answer="", no_answer=True, confidence=0.1,
                                       question="义乌明天会下雨吗？", resolved_question="义乌明天会下雨吗？"))
    assert "does not answer" in html
    assert "related reading" in html
    assert "<mark" not in html and "qa-short" not in html
    assert "2020年义乌国际半程马拉松今日开跑" in html


def test_render_answer_no_answer_falls_back_to_hits():
    p = Passage(7, "a1", 0, 20, BODY[:20])
    hit = Hit(p, MARATHON, 1, 0.4, 0.8, None)
    ans = Answer("Who won the 2020 US election?", "Who won the 2020 US election?", no_answer=True, hits=(hit,))
    html = render.render_answer(ans)
    assert "does not answer" in html and render.escape(BODY[:20]) in html
    assert "quoted in Chinese" in html
    cites = render.source_citations(ans)
    assert len(cites) == 1 and cites[0].start == 0 and cites[0].end == 20


def test_render_answer_escapes_edition_and_question_text():
    evil_cite = Citation(1, EVIL_ARTICLE, EVIL, 4, 4 + len(EVIL), (0, 8))
    html = render.render_answer(Answer(EVIL, EVIL + "?", "<b>x</b>", (evil_cite,), 0.5))
    no_raw_tags(html)
    assert "<mark>&lt;script&gt;</mark>" in html
    assert "&lt;b&gt;x&lt;/b&gt;" in html
    src = render.render_source(evil_cite)
    no_raw_tags(src)
    assert "&lt;script&gt;" in src
    no_raw_tags(render.render_question(EVIL))
    no_raw_tags(render.render_notice(EVIL))
    hit = Hit(Passage(1, "evil", 0, 10, EVIL), EVIL_ARTICLE, 1, 0.5, None, 2.0)
    no_raw_tags(render.render_hits([hit]))


def test_render_source_marks_extract_and_span_with_scroll_id():
    html = render.render_source(cite())
    assert '<h3 class="qa-headline">2020年义乌国际半程马拉松今日开跑</h3>' in html
    assert "新丝路 跑起来" in html and "全媒体记者 卢丽珍" in html and "page 1" in html
    assert html.count(f'id="{render.SOURCE_MARK_ID}"') == 1
    assert '<mark class="qa-extract qa-span">4公里</mark>' in html
    marked = "".join(re.findall(r'<mark class="qa-extract[^"]*"[^>]*>(.*?)</mark>', html))
    assert marked == render.escape(EXTRACT)
    assert html.count("<p>") == 3  # body paragraphs
    assert "本届赛事共有近10000人参与" in html


def test_render_source_extract_across_paragraphs():
    extract = BODY[START - 10:START + 8]
    c = Citation(1, MARATHON, extract, START - 10, START + 8, None)
    html = render.render_source(c)
    assert html.count('<mark class="qa-extract"') == 2
    assert html.count(f'id="{render.SOURCE_MARK_ID}"') == 1


def test_render_source_bad_offsets_are_located_or_shown_separately():
    c = Citation(1, MARATHON, EXTRACT, 0, 5, SPAN)  # wrong offsets, extract still in body
    assert '<mark class="qa-extract qa-span">4公里</mark>' in render.render_source(c)
    lost = Citation(1, MARATHON, "不在正文里的句子。", 0, 3, None)
    html = render.render_source(lost)
    assert "不在正文里的句子" in html and "qa-source-mark" not in html
    assert "Ask a question" in render.render_source(None)


def test_render_source_related_has_no_span():
    html = render.render_source(cite(), related=True)
    assert "Related reading" in html and "qa-span" not in html and "qa-source-mark" in html


def test_render_hits_scores():
    p = Passage(1, "a1", 0, 10, "参赛选手" * 60)
    html = render.render_hits([Hit(p, MARATHON, 1, 0.0325, 0.8123, None)])
    assert "0.033" in html and "0.812" in html and "–" in html and "…" in html
    assert "<th>fused</th><th>dense</th><th>lexical</th>" in html
    assert "No passages" in render.render_hits([])


def test_clip_question_and_language():
    assert render.clip_question("  问 ") == ("问", False)
    text, cut = render.clip_question("长" * 1500)
    assert cut and len(text) == render.MAX_QUESTION_CHARS
    assert render.is_english("How long is it?") and not render.is_english("植物园 route 多长？")
    assert not render.is_english("123？")
    assert render.citation_label(cite(2)) == "[2] 2020年义乌国际半程马拉松今日开跑: 参赛选手将进入义乌植物园，在…"
    assert render.citation_label(cite(2, extract="")) == "[2] 2020年义乌国际半程马拉松今日开跑"


def test_english_rendering_and_reading_are_shown():
    q = "How long is the new botanical garden route?"
    a = answer(question=q, resolved_question=q, english="4 km",
               reading="新植物园路线多长？ How long is the new botanical garden route?")
    html = render.render_answer(a)
    assert '<p class="qa-english">In English: 4 km</p>' in html
    assert "read with its dictionary terms: <q>新植物园路线多长？ How long" in html
    assert render.format_answer(a).splitlines()[0] == "Answer: 4公里 (4 km)"
    assert render.answer_json(a)["english"] == "4 km"
    # a Chinese question has neither
    plain = render.render_answer(answer())
    assert "qa-english" not in plain and "dictionary terms" not in plain
