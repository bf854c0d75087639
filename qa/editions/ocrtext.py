"""Line-level reading of OCR'd newspaper text: bylines, jump notes, photo credits, reflow,
and where a run of lines breaks into body, headline and caption when no blank line says so.

These are the small, testable pieces `qa.editions.parse.parse_page` is built from. Everything here
keeps the printed text (spaces such as "11 月 13 日" stay); only line breaks are removed.
"""

from __future__ import annotations

import re
import unicodedata

# Box and bullet glyphs that mark a byline line ("▢ 全媒体记者 王婷").
GLYPHS = "▢□■◆◇●○★☆▲△▼▽◼◻▪▫▣◉◎◾◽"

# Roles that open a byline group; longest alternatives first so "全媒体记者" wins over "记者".
_ROLE = (
    r"(?:(?:本报|全媒体|融媒体|新媒体|特约|见习|首席|实习|摄影)?(?:记者|通讯员)"
    r"|实习生|特约撰稿人?|撰稿人?|文\s*/\s*图|摄影)"
)
_ROLE_RE = re.compile(_ROLE)
# A role glued to a name ("本报记者张明") is only trusted for these endings.
_GLUE_OK = ("记者", "通讯员", "实习生")
_CJK = r"\u3400-\u4dbf\u4e00-\u9fff"
_NAME_RE = re.compile(rf"^[{_CJK}][{_CJK}·•]{{0,7}}$")

_NUM = r"[一二三四五六七八九十百零〇\d]+"
_TO_LINE = re.compile(rf"^[（(]?\s*(?:下转|紧转|转)\s*((?:第\s*)?{_NUM}\s*版)\s*[）)]?$")
_FROM_LINE = re.compile(rf"^[（(]?\s*(?:上接|紧接|接)\s*((?:第\s*)?{_NUM}\s*版)\s*[）)]?$")
_TO_TAIL = re.compile(rf"\s*[（(]\s*(?:下转|紧转|转)\s*((?:第\s*)?{_NUM}\s*版)\s*[）)]\s*$")
_FROM_HEAD = re.compile(rf"^[（(]\s*(?:上接|紧接|接)\s*((?:第\s*)?{_NUM}\s*版)\s*[）)]\s*")

# "…风情。 全媒体记者 吕斌 摄" or "（张明 摄）": the photographer's credit ending a caption.
_CREDIT_RE = re.compile(
    rf"(?:^|\s+|(?<=[。！？”）)]))[（(]?\s*(?:{_ROLE}\s*)?"
    rf"(?P<names>[{_CJK}·]{{2,6}}(?:\s+[{_CJK}·]{{2,6}}){{0,3}})\s*/?\s*摄\s*[）)]?$"
)

_SENTENCE_END = "。！？!?…"
_CLOSERS = "”’」』）)》】"
_LEAD_RE = re.compile(r"^(?:本报讯|本报综合|本报消息|据新华社|新华社\S{0,12}电)")
_SPACED_RE = re.compile(rf"[{_CJK}]\s+[{_CJK}]")
_INLINE_BYLINE = re.compile(r"^(本报讯|本报综合|本报消息)\s*[（(]([^（）()]{2,40})[）)]\s*")


def char_width(ch: str) -> float:
    """Print width of one character: CJK (and curly quotes, which CJK fonts set full width) 1, else 0.5."""
    return 1.0 if unicodedata.east_asian_width(ch) in "WFA" else 0.5


def width(text: str) -> float:
    """Print width of a line in CJK character cells."""
    return sum(char_width(c) for c in text)


def ends_sentence(text: str) -> bool:
    """True when the text ends a sentence ("。", "！", "？", "…", possibly inside closing quotes)."""
    s = text.rstrip()
    while s and s[-1] in _CLOSERS:
        s = s[:-1]
    return bool(s) and s[-1] in _SENTENCE_END


def spaced_phrases(line: str) -> bool:
    """True for a line set as phrases parted by a space ("从无到有 从有到优"): a title complete in itself."""
    return bool(_SPACED_RE.search(line))


def is_lead(line: str) -> bool:
    """True for a line opening an article with a dateline such as "本报讯"."""
    return bool(_LEAD_RE.match(line))


def join_sep(left: str, right: str) -> str:
    """What goes between two hard-wrapped pieces: nothing, except a space between two Latin words."""
    if not left or not right:
        return ""
    a, b = left[-1], right[0]
    if a.isascii() and a.isalpha() and b.isascii() and b.isalpha():
        return " "
    return ""


def join_lines(lines: list[str]) -> str:
    """Join hard-wrapped lines of one sentence or headline."""
    out = ""
    for line in lines:
        out += join_sep(out, line) + line
    return out


def parse_byline(line: str) -> tuple[str, ...] | None:
    """Role groups of a byline line as printed, e.g. ("通讯员 楼小青 贾燕玲", "全媒体记者 樊婷婷").

    Returns None when the line is not a byline. Without a glyph the line must be all roles and
    2-4 character names, so body text that happens to start with "记者" is not taken.
    """
    s = line.strip()
    glyph = bool(s) and s[0] in GLYPHS
    if glyph:
        s = s[1:].strip()
    s = re.sub(r"\s*(?:报道|摄影报道)$", "", s)
    s = re.sub(rf"({_ROLE})\s*[：:]\s*", r"\1 ", s)  # "记者：张明"
    if not s or len(s) > 60:
        return None
    groups: list[list[str]] = []
    for token in s.split():
        m = _ROLE_RE.match(token)
        if m:
            rest = token[m.end():]
            if rest and (not m.group().endswith(_GLUE_OK) or not _is_name(rest, glyph)):
                return None
            groups.append([token])
            if rest:
                groups[-1].append("")  # marks a glued name so the group counts as named
        elif groups and _is_name(token, glyph):
            groups[-1].append(token)
        else:
            return None
    if not groups or any(len(g) < 2 for g in groups):
        return None
    return tuple(" ".join(t for t in g if t) for g in groups)


def _is_name(token: str, glyph: bool) -> bool:
    if not _NAME_RE.match(token):
        return False
    # OCR sometimes spaces a name out ("许 竣 哲"); trust one-character pieces only after a glyph.
    return glyph or 2 <= len(token) <= 4 or "·" in token


def jump_line(line: str) -> tuple[str, str] | None:
    """("to" | "from", "第二版") for a line that is only a continuation note, else None."""
    for kind, rx in (("to", _TO_LINE), ("from", _FROM_LINE)):
        m = rx.match(line.strip())
        if m:
            return kind, _page_label(m.group(1))
    return None


def split_jumps(line: str) -> tuple[str, str, str]:
    """Split inline notes off a line: (text, continued_from, continued_to), "" where absent."""
    frm = to = ""
    m = _FROM_HEAD.match(line)
    if m:
        frm, line = _page_label(m.group(1)), line[m.end():]
    m = _TO_TAIL.search(line)
    if m:
        to, line = _page_label(m.group(1)), line[: m.start()]
    return line.strip(), frm, to


def _page_label(text: str) -> str:
    label = re.sub(r"\s+", "", text)
    return label if label.startswith("第") else "第" + label


def split_credit(text: str) -> tuple[str, str] | None:
    """(caption, photographer) when the text ends with a photo credit ("… 全媒体记者 吕斌 摄")."""
    m = _CREDIT_RE.search(text.rstrip())
    if not m:
        return None
    return text[: m.start()].rstrip(), " ".join(m.group("names").split())


def line_credit(line: str) -> tuple[str, str] | None:
    """`split_credit` for a single line where no blank line marks the caption's end: stricter,
    the credit must be set off (a role, a space, "/" or brackets), so that a body line which
    merely ends in "摄" is not taken for one."""
    m = _CREDIT_RE.search(line.rstrip())
    if not m:
        return None
    credit = m.group().strip()
    if not (_ROLE_RE.match(credit.lstrip("（(")) or re.search(r"[\s/（(]", credit)):
        return None
    return line[: m.start()].rstrip(), " ".join(m.group("names").split())


def split_inline_byline(text: str) -> tuple[tuple[str, ...], str] | None:
    """("本报讯（记者 张明）今天…") -> (("记者 张明",), "本报讯 今天…"), or None."""
    m = _INLINE_BYLINE.match(text)
    if not m:
        return None
    groups = parse_byline(m.group(2))
    if groups is None:
        return None
    rest = text[m.end():]
    # "本报讯（记者 何静）11 月" reads "本报讯 11 月" once the byline is lifted out.
    sep = " " if rest[:1].isalnum() else ""
    return groups, m.group(1) + sep + rest


def typical_width(lines: list[str]) -> float:
    """The column width of a run of lines: the 75th percentile of their widths."""
    widths = sorted(width(line) for line in lines if line)
    if not widths:
        return 0.0
    return widths[min(len(widths) - 1, int(len(widths) * 0.75))]


def reflow(lines: list[str]) -> str:
    """Join hard-wrapped lines into paragraphs separated by "\\n".

    `lines` holds the text lines of one body, with "" where the page had a blank line. Blank
    lines do not reliably mark paragraphs in OCR output, so a paragraph ends only where a
    sentence ends and either a blank line or a short (not full-column) line follows.
    """
    column = typical_width(lines)
    paragraphs: list[str] = []
    current = previous = ""
    gap = False
    for line in lines:
        if not line:
            gap = True
            continue
        if not current:
            current = line
        elif ends_sentence(current) and (gap or width(previous) < column - 1.5):
            paragraphs.append(current)
            current = line
        else:
            current += join_sep(current, line) + line
        previous, gap = line, False
    if current:
        paragraphs.append(current)
    return "\n".join(paragraphs)


# ---------------------------------------------------------------- blocks without blank lines
#
# Blank lines are what usually parts a headline from the body above it, a caption from the text
# around it, a kicker from its headline. Some OCR engines emit none; the cuts below find those
# boundaries from what a page keeps: sentence ends, line widths against the column, photo
# credits and datelines. On a page with blank lines the same cuts find little to do.


def title_line(line: str) -> bool:
    """One line that may belong to a headline, kicker or subhead: short, no sentence inside or at its end."""
    return (
        len(line) <= 40
        and not any(p in line for p in "。；;")
        and line[-1] not in "，、：,:（(《“‘—-…"
        and not ends_sentence(line)
        and not is_lead(line)
    )


def caption_pieces(lines: list[str]) -> list[tuple[list[str], bool]]:
    """Pieces of a block, each flagged True if it is a photo caption (the paragraph ending in a
    credit line) or False; a dateline ("本报讯") after a finished sentence or a title starts a piece."""
    cuts: dict[int, bool] = {0: False}
    floor = 0
    for c, line in enumerate(lines):
        credit = line_credit(line)
        if credit is not None:
            start = _caption_start(lines, c, floor, lone=not credit[0])
            cuts[start] = True
            cuts.setdefault(c + 1, False)
            floor = c + 1
        elif c > floor and is_lead(line) and (ends_sentence(lines[c - 1]) or title_line(lines[c - 1])):
            cuts[c] = False
    bounds = sorted(k for k in cuts if k < len(lines)) + [len(lines)]
    return [(lines[a:b], cuts[a]) for a, b in zip(bounds, bounds[1:]) if b > a]


def _caption_start(lines: list[str], c: int, floor: int, *, lone: bool) -> int:
    """First line of the caption ending at line c: back to a finished sentence or a title line
    much narrower than the caption (captions run the photo's width). A lone credit takes the
    paragraph above it."""
    start = c - 1 if lone and c > floor else c
    widest = max(width(line) for line in lines[start : c + 1])
    while start > floor:
        above = lines[start - 1]
        if ends_sentence(above) or (title_line(above) and width(above) < 0.8 * widest):
            break
        start -= 1
        widest = max(widest, width(above))
    return start


def title_pieces(lines: list[str], column: float, *, closed: bool) -> list[tuple[list[str], bool]]:
    """Parts of a piece of text, each flagged True for a run of title lines.

    A run starts where a sentence has ended. At the end of a closed piece (a byline, photo or
    dateline follows) the run is a headline. Followed by more text it is a subhead or headline
    only if its lines are off the column width (a paragraph's first line is full or indented by
    two characters; a subhead is centred and short) and the text after it opens a paragraph.
    """
    out: list[tuple[list[str], bool]] = []
    start = k = 0
    n = len(lines)
    while k < n:
        if k and not ends_sentence(lines[k - 1]):
            k += 1
            continue
        end = k
        while end < n and title_line(lines[end]):
            end += 1
        cut = 0
        if end == n:
            if closed and k < n and n - k <= 6 and len("".join(lines[k:])) <= 80:
                cut = n
        else:
            t = k
            while t < end and "，" not in lines[t] and not 0.75 * column <= width(lines[t]) <= column + 1.5:
                t += 1
            # the body after a title opens at full width; a narrow run beside a picture is no title
            cut = t if t > k and width(lines[t]) >= 0.75 * column else 0
        if cut:
            if k > start:
                out.append((lines[start:k], False))
            out.append((lines[k:cut], True))
            start = k = cut
            continue
        k += 1
    if start < n:
        out.append((lines[start:], False))
    return out


def title_groups(lines: list[str], *, before_caption: bool) -> list[list[str]]:
    """Part a run of title lines into kicker, headline and photo title. Lines of one wrapped
    headline share a font and a box, so their widths are alike; a kicker set in another size,
    or a line of spaced phrases ("从无到有 从有到优"), stands alone. A "——" subtitle stays with
    its headline; the line right above a caption is the photo's title."""
    groups = [[lines[0]]]
    for prev, line in zip(lines, lines[1:]):
        a, b = width(prev), width(line)
        alike = min(a, b) >= 0.5 * max(a, b) and not spaced_phrases(prev) and not spaced_phrases(line)
        if line.startswith("—") or alike:
            groups[-1].append(line)
        else:
            groups.append([line])
    if before_caption and len(groups[-1]) > 1:
        groups.append([groups[-1].pop()])
    return groups
