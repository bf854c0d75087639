"""Layout of an OCR'd page: which lines are bylines, headlines, subheads, body, captions.

A page is read in three passes: lines become units (bylines, jump notes, blocks of text,
photo captions); text blocks are classified as body, headline or subhead from their
context; units are then assembled into items in one of two layouts, headline before the
byline (most papers) or after the body (the sample edition's reading order).

Blocks are cut at blank lines and, since some OCR engines emit none, also where the lines
themselves show a boundary (`qa.editions.ocrtext.caption_pieces`, `title_pieces`): a page without a
single blank line parses into the same items as with them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from qa.editions import ocrtext as ot

__all__ = ["page_items"]

_ANCHORS = ("byline", "from")


@dataclass
class _Unit:
    kind: str  # byline | from | to | body | title | sub | caption
    lines: list[str]
    data: Any = None
    lead: bool = False  # a body block opening with a dateline ("本报讯")


@dataclass
class _Draft:
    pos: int
    byline: tuple[str, ...] = ()
    titles: list[list[str]] = field(default_factory=list)
    body: list[str] = field(default_factory=list)
    subheads: list[str] = field(default_factory=list)
    continued_to: str = ""
    continued_from: str = ""
    closed: bool = False  # its headline came after the body: more body starts a new article

    def add_body(self, lines: list[str]) -> None:
        if self.body:
            self.body.append("")
        self.body.extend(lines)


def _units(text: str) -> list[_Unit]:
    """Lines -> bylines, jump notes and blocks of text (cut at blank lines, indents and layout cues)."""
    units: list[_Unit] = []
    block: list[str] = []

    def flush() -> None:
        if block:
            units.append(_Unit("text", block.copy()))
            block.clear()

    raws = text.splitlines()
    indented = [raw.startswith(("\u3000", "  ", "\t")) for raw in raws]
    # Indentation marks paragraphs only where some lines have it; a margin on every line says nothing.
    marks = sum(indented) < 0.5 * sum(1 for raw in raws if raw.strip())
    for raw, indent in zip(raws, indented):
        line = raw.strip()
        if not line:
            flush()
            continue
        if indent and marks:
            flush()  # an indented line opens a paragraph, as a blank line may
        groups = ot.parse_byline(line)
        jump = ot.jump_line(line)
        if groups or jump:
            flush()
            if groups and units and units[-1].kind == "byline":
                # a byline set one role per line ("通讯员 楼小青" / "全媒体记者 樊婷婷") is one byline
                units[-1].lines.append(line)
                units[-1].data = units[-1].data + groups
            else:
                units.append(_Unit("byline", [line], groups) if groups else _Unit(jump[0], [line], jump[1]))
            continue
        line, frm, to = ot.split_jumps(line)
        if frm:
            flush()
            units.append(_Unit("from", [], frm))
        if line:
            block.append(line)
        if to:
            flush()
            units.append(_Unit("to", [], to))
    flush()
    filled = [k for k, raw in enumerate(raws) if raw.strip()]
    blank = bool(filled) and filled[-1] - filled[0] + 1 > len(filled)  # a blank line between text lines
    return _captions(_split_blocks(units, regroup=not blank))


def _captions(units: list[_Unit]) -> list[_Unit]:
    """Blocks ending in a photo credit become captions (a lone credit line joins the block above)."""
    out: list[_Unit] = []
    for u in units:
        credit = ot.split_credit(ot.join_lines(u.lines)) if u.kind == "text" else None
        if credit is None:
            out.append(u)
            continue
        lines = u.lines
        if not credit[0] and out and out[-1].kind == "text":
            lines = out.pop().lines + [""] + lines
        caption = ot.split_credit(ot.reflow(lines)) or credit
        out.append(_Unit("caption", lines, caption))
    return out


def _title_like(lines: list[str]) -> bool:
    """Short lines without sentence punctuation: what a headline, kicker or subhead looks like."""
    text = ot.join_lines(lines)
    return (
        len(lines) <= 3
        and len(text) <= 60
        and all(len(line) <= 40 for line in lines)
        and not any(p in text for p in "。；;")
        and text[-1] not in "，、：,:（(《“‘—-…"  # a headline may end in ！ or ？, never mid-clause
        and not ot.is_lead(text)
    )


def _split_blocks(units: list[_Unit], *, regroup: bool) -> list[_Unit]:
    """Cut text blocks where a headline, caption or dateline starts without a blank line before it.

    `regroup` (a page without blank lines): title lines found together are also parted into
    kicker, headline and photo title, which blank lines would otherwise have kept apart.
    """
    out: list[_Unit] = []
    for i, u in enumerate(units):
        if u.kind != "text":
            out.append(u)
            continue
        nxt = units[i + 1] if i + 1 < len(units) else None
        # A body cannot run on, mid-sentence, into a byline, a photo or a new dated article.
        closed = nxt is None or nxt.kind in _ANCHORS or (
            nxt.kind == "text" and (ot.is_lead(nxt.lines[0]) or ot.split_credit(ot.join_lines(nxt.lines)) is not None)
        )
        column = ot.typical_width(u.lines)
        pieces = ot.caption_pieces(u.lines)
        for k, (lines, caption) in enumerate(pieces):
            if caption:
                out.append(_Unit("text", lines))
                continue
            before_caption = k + 1 < len(pieces) and pieces[k + 1][1]
            for part, title in ot.title_pieces(lines, column, closed=closed if k + 1 == len(pieces) else True):
                groups = ot.title_groups(part, before_caption=before_caption) if title and regroup else [part]
                out += [_Unit("text", g) for g in groups]
    return out


# ---------------------------------------------------------------- classification


def _classify(units: list[_Unit]) -> None:
    """Mark text blocks body, title or sub. A block continuing an unfinished sentence is body."""
    open_sentence = False
    for u in units:
        if u.kind == "text":
            u.lead = ot.is_lead(u.lines[0])
            if not open_sentence and _title_like(u.lines):
                u.kind = "title"
            else:
                u.kind = "body"
                open_sentence = not ot.ends_sentence(u.lines[-1])
        elif u.kind != "to":
            open_sentence = False
    # Title-like blocks followed by body text (not a new article) are subheads, if short;
    # at the top of the page or after a jump note they head a new article instead.
    before = None
    for i, u in enumerate(units):
        if u.kind != "title":
            before = u
            continue
        j = i
        while j < len(units) and units[j].kind == "title":
            j += 1
        follows_body = j < len(units) and units[j].kind == "body" and not units[j].lead
        if follows_body and before is not None and before.kind != "to":
            column = _neighbour_column(units, i, j)
            sub = all(ot.width(line) < column - 1.5 for line in u.lines) and "，" not in "".join(u.lines)
            u.kind = "sub" if sub and len(u.lines) <= 2 else "body"


def _neighbour_column(units: list[_Unit], i: int, j: int) -> float:
    lines = units[j].lines[:]
    for k in range(i - 1, -1, -1):
        if units[k].kind == "body":
            lines += units[k].lines
            break
    return ot.typical_width(lines)


def _is_anchor(u: _Unit) -> bool:
    return u.kind in _ANCHORS or (u.kind == "body" and u.lead)


def _headline_first(units: list[_Unit]) -> bool:
    """Vote on the layout. How the page opens weighs most: headline then byline reads
    headline-first, a byline straight away reads headline-after. How it ends breaks a tie:
    headline lines after the last body read headline-after, a body running to the end
    (or to a photo) headline-first."""
    first = after = titles = 0
    for u in units:
        if u.kind == "title":
            titles += 1
        elif u.kind == "caption":
            titles = 0
        else:
            if _is_anchor(u):
                if titles:
                    first += 2
                else:
                    after += 2
            break
    last = max((i for i, u in enumerate(units) if _is_anchor(u)), default=-1)
    seen_body, run = last >= 0 and units[last].kind == "body", 0
    for u in units[last + 1:]:
        if u.kind in ("body", "sub", "to") and not run:
            seen_body = seen_body or u.kind == "body"
            continue
        if u.kind == "title" and seen_body:
            run += 1
            continue
        if u.kind == "caption" and run:
            run -= 1  # the title just above a caption is the photo's
        break
    if seen_body:
        if run:
            after += 1
        else:
            first += 1
    return first > after


def page_items(text: str) -> list[dict[str, Any]]:
    """The items of one page, in reading order, as `Article` field dicts (no id/date/page).

    A page with text but no recognizable article gives one untitled article; a blank page [].
    """
    units = _units(text)
    _classify(units)
    if not units:
        return []
    if not any(_is_anchor(u) or u.kind == "caption" for u in units):
        # No byline, dateline or photo: one article, headed by title lines on top if a body follows.
        top = 0
        while top < len(units) and units[top].kind == "title":
            top += 1
        top = top if top < len(units) else 0
        lines = [line for u in units[top:] for line in u.lines + [""]]
        return [{"body": ot.reflow(lines), **(_heads([u.lines for u in units[:top]]) if top else {})}]
    items = _assemble(units, headline_first=_headline_first(units))
    items.sort(key=lambda item: item[0])
    return [fields for _, fields in items]


def _assemble(units: list[_Unit], *, headline_first: bool) -> list[tuple[int, dict[str, Any]]]:
    items: list[tuple[int, dict[str, Any]]] = []
    cur: _Draft | None = None
    pending: list[list[str]] = []  # headline-first: titles waiting for their byline
    photo_title: list[str] = []

    def close() -> None:
        nonlocal cur
        if cur is not None and (cur.body or cur.titles or cur.byline):
            items.append((cur.pos, _draft_fields(cur)))
        cur = None

    def start(i: int, **kw: Any) -> _Draft:
        nonlocal pending
        close()
        draft = _Draft(i, titles=pending, **kw)
        pending = []
        return draft

    i = 0
    while i < len(units):
        u = units[i]
        if u.kind == "title":
            j = i
            while j < len(units) and units[j].kind == "title":
                j += 1
            run = [units[k].lines for k in range(i, j)]
            nxt = units[j] if j < len(units) else None
            if nxt is not None and nxt.kind == "caption":
                photo_title = run.pop()
            if run:
                if nxt is not None and (_is_anchor(nxt) or nxt.kind == "body") and (headline_first or cur is None):
                    pending = run
                elif not headline_first and cur is not None and not cur.closed and (cur.body or cur.byline):
                    cur.titles, cur.closed = run, True
                else:
                    items.append((i, {"kind": "brief", **_heads(run)}))
            i = j
            continue
        if u.kind == "byline":
            cur = start(i, byline=u.data)
        elif u.kind == "from":
            if cur is not None and not cur.body and not cur.continued_from and not cur.closed:
                cur.continued_from = u.data
            else:
                cur = start(i, continued_from=u.data)
        elif u.kind == "to":
            if cur is not None:
                cur.continued_to = u.data
        elif u.kind == "body":
            if cur is None or cur.closed or pending or (u.lead and cur.body):
                cur = start(i)
            cur.add_body(u.lines)
        elif u.kind == "sub":
            if cur is None or cur.closed:
                cur = start(i)
                cur.titles = [u.lines]
            else:
                cur.subheads.append(ot.join_lines(u.lines))
                cur.body.append("")
        elif u.kind == "caption":
            caption, photographer = u.data
            fields = {"kind": "photo", "body": caption, "photographer": photographer}
            if photo_title:
                fields.update(_heads([photo_title]))
            items.append((i - (1 if photo_title else 0), fields))
            photo_title = []
        i += 1
    close()
    if pending:
        items.append((len(units), {"kind": "brief", **_heads(pending)}))
    return items


def _heads(blocks: list[list[str]]) -> dict[str, str]:
    """Headline and kicker from title blocks: the last block is the headline (a "——" subtitle
    line is split off and kept with the kicker); earlier blocks are the kicker."""
    texts: list[str] = []
    for block in blocks:
        group: list[str] = []
        for line in block:
            if line.startswith("—") and group:
                texts.append(ot.join_lines(group))
                group = []
            group.append(line)
        texts.append(ot.join_lines(group))
    main = max((k for k, t in enumerate(texts) if not t.startswith("—")), default=len(texts) - 1)
    return {"headline": texts[main], "kicker": " ".join(t for k, t in enumerate(texts) if k != main)}


def _draft_fields(d: _Draft) -> dict[str, Any]:
    body = ot.reflow(d.body)
    byline = d.byline
    if not byline:
        inline = ot.split_inline_byline(body)
        if inline:
            byline, body = inline
    fields: dict[str, Any] = {
        "kind": "article" if body else "brief",
        "byline": byline,
        "body": body,
        "subheads": tuple(d.subheads),
        "continued_to": d.continued_to,
        "continued_from": d.continued_from,
    }
    if d.titles:
        fields.update(_heads(d.titles))
    return fields
