"""E-paper PDF pages: column order, headlines and articles, multi-page PDFs, bad files.

Every PDF here is written by the test itself with reportlab, in its built-in CID font
STSong-Light (Chinese without a font file; pdfminer maps it back to Unicode).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("pdfminer")
canvas = pytest.importorskip("reportlab.pdfgen.canvas")
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont

from qa.app.cli import main
from qa.editions.parse import load_edition, parse_page
from qa.editions.pdf import pdf_page_texts
from qa.errors import InputError

FONT = "STSong-Light"
pdfmetrics.registerFont(UnicodeCIDFont(FONT))
W, H = 595.0, 842.0  # A4 in points
BODY, LEAD = 10.0, 14.0  # body size and line spacing

# (x, top, size, text): top measured down from the top of the page.
Item = tuple[float, float, float, str]


def write_pdf(path: Path, pages: list[list[Item]], *, password: str = "") -> Path:
    c = canvas.Canvas(str(path), pagesize=(W, H))
    if password:
        from reportlab.lib.pdfencrypt import StandardEncryption

        c = canvas.Canvas(str(path), pagesize=(W, H), encrypt=StandardEncryption(password, canPrint=0))
    for items in pages:
        for x, top, size, text in items:
            c.setFont(FONT, size)
            c.drawString(x, H - top - size, text)
        c.showPage()
    c.save()
    return path


def wrap(text: str, chars: int) -> list[str]:
    return [text[i:i + chars] for i in range(0, len(text), chars)]


def column(x: float, top: float, paragraphs: list[str], *, chars: int = 14) -> tuple[list[Item], float]:
    """Paragraphs set in a column `chars` wide, first lines indented two characters; returns the bottom."""
    items: list[Item] = []
    y = top
    for para in paragraphs:
        for k, line in enumerate(wrap("\u3000\u3000" + para, chars)):
            text = line.lstrip("\u3000")
            items.append((x + (len(line) - len(text)) * BODY, y, BODY, text))
            y += LEAD
    return items, y


def two_columns(x: float, top: float, paragraphs: list[str], *, chars: int = 14, gutter: float = 15.0) -> tuple[list[Item], float]:
    """Paragraphs flowed down a left column and on into a right one, as a paper sets them."""
    lines: list[tuple[float, str]] = []
    for para in paragraphs:
        for line in wrap("\u3000\u3000" + para, chars):
            text = line.lstrip("\u3000")
            lines.append(((len(line) - len(text)) * BODY, text))
    half = (len(lines) + 1) // 2
    items = []
    for k, (indent, text) in enumerate(lines):
        col, row = divmod(k, half)
        items.append((x + col * (chars * BODY + gutter) + indent, top + row * LEAD, BODY, text))
    return items, top + half * LEAD


def page_of_two_articles() -> tuple[list[Item], list[dict]]:
    """Two stacked articles, each a full-width headline, a byline and a body in two columns."""
    articles = [
        {
            "headline": "义乌绿色动力小镇通过省级命名验收",
            "byline": ("全媒体记者 王婷", "通讯员 金巧"),
            "paragraphs": [
                "近日，浙江省政府办公厅下发《浙江省人民政府关于命名第四批省级特色小镇的通知》，义乌绿色动力小镇入榜。",
                "义乌绿色动力小镇位于赤岸镇与佛堂镇交界处，规划面积3.32平方公里。",
                "2015年5月，小镇招引了第一个产业项目。经过3年培育，小镇实现了质的飞越。",
            ],
        },
        {
            "headline": "健康义乌建设推进会召开",
            "byline": ("全媒体记者 谭祉潇",),
            "paragraphs": [
                "11月13日下午，我市召开健康义乌暨综合医改领导小组工作会议。",
                "市长王健充分肯定了近年来我市健康义乌建设和医改工作所取得的成效。",
            ],
        },
    ]
    items: list[Item] = []
    top = 40.0
    for art in articles:
        items += [(40, top, 22, art["headline"]), (40, top + 32, BODY, " ".join(art["byline"]))]
        body, top = two_columns(40, top + 52, art["paragraphs"])
        items += body
        top += 24
    return items, articles


# ---------------------------------------------------------------- column order


def test_two_columns_are_read_left_column_first(tmp_path: Path) -> None:
    left = [f"左栏第{n}行文字。" for n in "一二三四五"]
    right = [f"右栏第{n}行文字。" for n in "一二三四五"]
    # Both columns on the same baselines, so top-to-bottom order alone would interleave them.
    items = [(40, 40, 22, "横跨两栏的大标题")]
    # The left column starts a little lower (under a photo, say): sorting blocks by their top
    # would put the right column first.
    items += [(40, 80 + (k + 1) * LEAD, BODY, t) for k, t in enumerate(left)]
    items += [(40 + 14 * BODY + 15, 80 + k * LEAD, BODY, t) for k, t in enumerate(right)]
    (text,) = pdf_page_texts(write_pdf(tmp_path / "two.pdf", [items]))
    order = [text.index(t) for t in ["横跨两栏的大标题", *left, *right]]
    assert order == sorted(order)
    lines = text.splitlines()
    assert "横跨两栏的大标题" in lines and lines[lines.index("横跨两栏的大标题") + 1] == ""


def test_a_headline_over_two_of_three_columns_stays_above_them(tmp_path: Path) -> None:
    # Column 1 is one article from top to bottom; columns 2-3 are a second one under its own headline.
    a_body, _ = column(30, 90, ["甲栏第一段文字，说明甲事件的经过和结果。", "甲栏第二段，甲事件结束。"], chars=10)
    b_paras = ["乙文第一段，讲述乙事件的起因和经过，内容较长需要换行。", "乙文第二段，讲述乙事件的影响。", "乙文第三段。"]
    b_body, _ = two_columns(150, 90, b_paras, chars=12, gutter=12)
    items = [(30, 40, 20, "甲文章标题"), (30, 70, BODY, "记者 张明"), *a_body,
             (150, 40, 20, "乙文章的标题横跨两栏"), (150, 70, BODY, "记者 李华"), *b_body]
    path = write_pdf(tmp_path / "three.pdf", [items])
    (text,) = pdf_page_texts(path)
    marks = ["甲文章标题", "甲栏第一段", "甲栏第二段", "乙文章的标题横跨两栏", "记者 李华", "乙文第一段", "乙文第三段"]
    positions = [text.index(m) for m in marks]
    assert positions == sorted(positions)
    arts = load_edition(path)
    assert [(a.headline, a.byline) for a in arts] == [("甲文章标题", ("记者 张明",)), ("乙文章的标题横跨两栏", ("记者 李华",))]
    assert arts[1].body == "\n".join(b_paras)


def test_a_narrow_gutter_still_parts_the_columns(tmp_path: Path) -> None:
    # A gutter of 1.2 characters: pdfminer's default would join both columns into one line.
    left, right = "左栏的文字内容共十四个字符。", "右栏的文字内容共十四个字符。"
    items = [(40, 80, BODY, left), (40 + 14 * BODY + 12, 80, BODY, right)]
    (text,) = pdf_page_texts(write_pdf(tmp_path / "narrow.pdf", [items]))
    assert [line for line in text.splitlines() if line] == [left, right]


def test_letter_spaced_lines_keep_their_text(tmp_path: Path) -> None:
    # Justified lines are letter-spaced; pdfminer alone would read "义 乌 绿 色" and part the line.
    line = "义乌绿色动力小镇 AB test 3.32平方公里"
    c = canvas.Canvas(str(tmp_path / "justified.pdf"), pagesize=(W, H))
    for k, spacing in enumerate([0, 1.5, 3]):
        t = c.beginText(40, 700 - 20 * k)
        t.setFont(FONT, BODY)
        t.setCharSpace(spacing)
        t.textOut(line)
        c.drawText(t)
    c.showPage()
    c.save()
    (text,) = pdf_page_texts(tmp_path / "justified.pdf")
    assert [ln for ln in text.splitlines() if ln] == [line] * 3


def test_latin_words_set_without_space_glyphs_keep_their_spaces(tmp_path: Path) -> None:
    c = canvas.Canvas(str(tmp_path / "words.pdf"), pagesize=(W, H))
    c.setFont("Helvetica", BODY)
    x = 40.0
    for word in ["Vinbywine", "wine", "TX5"]:
        c.drawString(x, 700, word)
        x += c.stringWidth(word, "Helvetica", BODY) + 3  # a word gap, but no space glyph
    c.showPage()
    c.save()
    assert pdf_page_texts(tmp_path / "words.pdf")[0].strip() == "Vinbywine wine TX5"


# ---------------------------------------------------------------- articles


def test_headline_byline_body_become_the_articles(tmp_path: Path) -> None:
    items, expected = page_of_two_articles()
    arts = load_edition(write_pdf(tmp_path / "edition-2021-03-05-p02.pdf", [items]))
    assert [a.kind for a in arts] == ["article", "article"]
    for art, want in zip(arts, expected):
        assert art.headline == want["headline"]
        assert art.byline == want["byline"]
        # A paragraph running on from the foot of the left column to the top of the right one is one paragraph.
        assert art.body == "\n".join(want["paragraphs"])
        assert (art.date, art.page) == ("2021-03-05", 2)


def test_pdf_parses_like_the_same_page_as_ocr_text(tmp_path: Path) -> None:
    items, expected = page_of_two_articles()
    pdf = load_edition(write_pdf(tmp_path / "p.pdf", [items]), date="2021-03-05", page=2)
    txt = "\n\n".join(
        "\n\n".join([a["headline"], " ".join(a["byline"]), *a["paragraphs"]]) for a in expected
    )
    assert [a.to_dict() for a in pdf] == [a.to_dict() for a in parse_page(txt, date="2021-03-05", page=2)]


def test_kicker_set_smaller_than_the_headline(tmp_path: Path) -> None:
    items = [(40, 40, 14, "百国万商聚义乌 共享自贸新时代"), (40, 62, 22, "美国馆正式入驻进口商品城"),
             (40, 94, BODY, "全媒体记者 吴峰宇")]
    body, _ = column(40, 114, ["本报讯 11月13日，美国馆开馆仪式在义乌举行。", "美国馆建设于2020年8月竣工，面积950平方米。"], chars=30)
    (art,) = load_edition(write_pdf(tmp_path / "k.pdf", [items + body]))
    assert (art.kicker, art.headline, art.byline) == ("百国万商聚义乌 共享自贸新时代", "美国馆正式入驻进口商品城", ("全媒体记者 吴峰宇",))
    assert art.body.endswith("面积950平方米。")


# ---------------------------------------------------------------- pages


def _pages(tmp_path: Path, name: str, *, blank_middle: bool = False) -> Path:
    def one(n: str) -> list[Item]:
        body, _ = column(40, 100, [f"这是第{n}版的正文。"], chars=30)
        return [(40, 40, 22, f"第{n}版头条标题"), (40, 72, BODY, "记者 张明"), *body]

    pages = [one("一"), [], one("二")] if blank_middle else [one("一"), one("二")]
    return write_pdf(tmp_path / name, pages)


def test_each_pdf_page_is_a_page_numbered_from_the_file_name(tmp_path: Path) -> None:
    arts = load_edition(_pages(tmp_path, "edition-2021-03-05-p03.pdf"))
    assert [(a.page, a.headline, a.date) for a in arts] == [
        (3, "第一版头条标题", "2021-03-05"), (4, "第二版头条标题", "2021-03-05")]
    assert len({a.id for a in arts}) == 2


def test_pages_numbered_from_the_option_else_from_one(tmp_path: Path) -> None:
    path = _pages(tmp_path, "scan.pdf")
    assert [a.page for a in load_edition(path)] == [1, 2]
    assert [a.page for a in load_edition(path, date="2021-01-02", page=7)] == [7, 8]
    (tmp_path / "scan.json").write_text(json.dumps({"date": "2021-01-02", "page": 5}))
    assert [(a.date, a.page) for a in load_edition(path)] == [("2021-01-02", 5), ("2021-01-02", 6)]


def test_a_page_without_text_is_skipped_but_keeps_its_number(tmp_path: Path) -> None:
    arts = load_edition(_pages(tmp_path, "edition-2021-03-05-p01.pdf", blank_middle=True))
    assert [(a.page, a.headline) for a in arts] == [(1, "第一版头条标题"), (3, "第二版头条标题")]


def test_a_one_page_pdf_without_a_page_number_is_page_0_like_a_txt(tmp_path: Path) -> None:
    body, _ = column(40, 60, ["只有一版的正文。"])
    (art,) = load_edition(write_pdf(tmp_path / "single.pdf", [body]))
    assert (art.page, art.date) == (0, "")


# ---------------------------------------------------------------- bad files


def _scanned(path: Path) -> Path:
    from PIL import Image

    image = path.with_suffix(".png")
    Image.new("RGB", (200, 100), "white").save(image)
    c = canvas.Canvas(str(path), pagesize=(W, H))
    c.drawImage(str(image), 50, 500, 200, 100)
    c.showPage()
    c.save()
    return path


def _bad(kind: str, tmp_path: Path) -> Path:
    good = write_pdf(tmp_path / "good.pdf", [[(40, 40, 20, "标题文字"), (40, 80, BODY, "正文内容。")]])
    data = good.read_bytes()
    path = tmp_path / f"{kind}.pdf"
    if kind == "scanned":
        return _scanned(path)
    if kind == "encrypted":
        return write_pdf(path, [[(40, 40, 20, "机密标题")]], password="secret")
    if kind == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif kind == "damaged":
        path.write_bytes(data[:15] + b"\x00garbage" * 50 + data[-40:])
    elif kind == "not-a-pdf":
        path.write_text("义乌新闻\n\n这是一个改了扩展名的文本文件。\n", encoding="utf-8")
    elif kind == "empty":
        path.write_bytes(b"")
    return path


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("scanned", r"has no text layer and OCR found no printed text on its pages \(a photo\?\)"),
        ("encrypted", r"is password-protected; save an unprotected copy"),
        ("truncated", r"is truncated .*; download or export the PDF again"),
        ("damaged", r"is damaged and cannot be read as a PDF; download or export it again"),
        ("not-a-pdf", r"is not a PDF .*rename a text page to \.txt"),
        ("empty", r"is empty"),
    ],
)
def test_bad_files_give_one_line_input_errors(tmp_path: Path, kind: str, message: str) -> None:
    path = _bad(kind, tmp_path)
    with pytest.raises(InputError, match=message) as info:
        load_edition(path)
    assert "\n" not in str(info.value) and str(info.value).startswith(path.name)


def test_a_permission_restricted_pdf_still_opens(tmp_path: Path) -> None:
    from reportlab.lib.pdfencrypt import StandardEncryption

    # No password to open, only an owner password that forbids copying: readers open it, so do we.
    path = tmp_path / "restricted.pdf"
    c = canvas.Canvas(str(path), pagesize=(W, H), encrypt=StandardEncryption("", ownerPassword="x", canCopy=0))
    c.setFont("Helvetica", 12)
    c.drawString(40, 700, "Restricted page, text still readable.")
    c.showPage()
    c.save()
    assert "Restricted page, text still readable." in pdf_page_texts(path)[0]


def test_glyphs_without_unicode_are_read_by_ocr_not_dropped_silently(tmp_path: Path, monkeypatch) -> None:
    import qa.editions.pdf as pp

    path = write_pdf(tmp_path / "glyphs.pdf", [[(40, 40, 20, "标题文字"), (40, 80, BODY, "正文内容，这是一段正文。")]])
    real = pp._page_lines

    def unmapped(layout):
        lines, _ = real(layout)
        return [], sum(len(line.text) for line in lines)

    monkeypatch.setattr(pp, "_page_lines", unmapped)
    assert pdf_page_texts(path) == ["标题文字\n\n正文内容，这是一段正文。\n"]


# ---------------------------------------------------------------- command line


def test_cli_articles_lists_a_pdf(tmp_path: Path, capsys) -> None:
    items, expected = page_of_two_articles()
    path = write_pdf(tmp_path / "edition-2021-03-05-p02.pdf", [items])
    assert main(["articles", str(path), "--json"]) == 0
    out, err = capsys.readouterr()
    got = json.loads(out)
    assert err == ""
    assert [(i["headline"], i["page"], i["date"]) for i in got] == [
        (e["headline"], 2, "2021-03-05") for e in expected]
    assert main(["articles", str(_bad("encrypted", tmp_path))]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "password-protected" in err


def test_cli_table_shows_the_page_of_each_item_of_a_multi_page_pdf(tmp_path: Path, capsys) -> None:
    assert main(["articles", str(_pages(tmp_path, "edition-2021-03-05-p05.pdf"))]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["page", "n", "kind"]
    assert [line.split()[:4] for line in lines[2:]] == [
        ["5", "1", "article", "第一版头条标题"], ["6", "2", "article", "第二版头条标题"]]


def test_an_index_holds_each_page_of_a_multi_page_pdf(tmp_path: Path, hash_embedder) -> None:
    from qa.store.index import Index

    index = Index.build([_pages(tmp_path, "edition-2021-03-05-p03.pdf")], model=hash_embedder, progress=False)
    assert [(e.date, e.page) for e in index.store.editions()] == [("2021-03-05", 3), ("2021-03-05", 4)]
    assert {a.page: a.headline for a in index.articles()} == {3: "第一版头条标题", 4: "第二版头条标题"}
