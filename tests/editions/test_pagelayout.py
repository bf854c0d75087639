"""Reading order from line boxes (`qa.editions.pagelayout`), the part PDF text layers and OCR share.

Pages here are lines placed by hand: a box, a type size and the text, top-down coordinates.
"""

from __future__ import annotations

from qa.editions.pagelayout import TextLine, page_text

BODY = 10.0
COLUMN = 140.0  # 14 characters of body type


def column(x: float, top: float, lines: list[str], *, size: float = BODY, indent_first: bool = True) -> list[TextLine]:
    out = []
    for k, text in enumerate(lines):
        x0 = x + (2 * size if indent_first and k == 0 else 0)
        out.append(TextLine(x0, top + k * 1.45 * size, x0 + len(text) * size, top + k * 1.45 * size + size, size, text))
    return out


def centred(top: float, text: str, size: float, *, left: float, right: float) -> TextLine:
    width = len(text) * size
    x0 = (left + right - width) / 2
    return TextLine(x0, top, x0 + width, top + size, size, text)


FIRST = ["第一栏第一段的文字在这里开", "始，写满了一整行又一整行的", "内容，直到这一段结束了。"]
SECOND = ["第二栏的文字紧接着开始写，", "它也有好几行的内容，一直写", "到这一栏的最后一行为止。"]
THIRD = ["第三栏的文字也是一样的写法", "，几行之后这一段也就结束", "了。"]


def test_a_banner_centred_over_some_columns_is_read_before_all_of_them() -> None:
    # three columns; the banner spans the second and third only, centred on the page, and the
    # first column starts below it: a vertical cut at the first gutter would put it after column 1
    xs = [0.0, 160.0, 320.0]
    banner = centred(0.0, "义乌绿色动力小镇通过命名验收", 22.0, left=160.0, right=460.0)
    assert banner.x0 > COLUMN  # clear of the first column
    lines = [banner, *column(xs[0], 40.0, FIRST), *column(xs[1], 40.0, SECOND), *column(xs[2], 40.0, THIRD)]
    text = page_text(lines)
    assert text.index("义乌绿色动力小镇") < text.index("第一栏") < text.index("第二栏") < text.index("第三栏")


def test_side_by_side_articles_each_with_its_headline_stay_in_columns() -> None:
    # two one-column headlines at the same height: read headline A, body A, headline B, body B
    lines = [centred(0.0, "甲文标题", 16.0, left=0.0, right=COLUMN), *column(0.0, 30.0, FIRST),
             centred(0.0, "乙文标题", 16.0, left=160.0, right=160.0 + COLUMN), *column(160.0, 30.0, SECOND)]
    text = page_text(lines)
    assert text.index("甲文标题") < text.index("第一栏") < text.index("乙文标题") < text.index("第二栏")


def test_a_centred_last_line_of_a_title_is_no_new_paragraph() -> None:
    # a photo title set a little larger than the body, on two centred lines, then its caption
    size = 11.0
    lines = [centred(0.0, "百国万商聚义乌 共享自贸", size, left=0.0, right=COLUMN),
             centred(1.45 * size, "新时代", size, left=0.0, right=COLUMN),
             *column(0.0, 40.0, FIRST, indent_first=False)]
    text = page_text(lines)
    assert "百国万商聚义乌 共享自贸\n新时代\n" in text


def test_an_indented_line_under_a_full_one_opens_a_paragraph() -> None:
    lines = column(0.0, 0.0, FIRST) + column(0.0, 3 * 1.45 * BODY, SECOND)
    assert page_text(lines) == "\n".join([*FIRST, "", *SECOND]) + "\n"
