"""Parse an edition page (OCR'd text or structured JSONL) into `Article`s.

An OCR'd page is read in three passes: lines become units (bylines, jump notes, blocks of
text, photo captions); text blocks are classified as body, headline or subhead from their
context; units are then assembled into items in one of two layouts, headline before the
byline (most papers) or after the body (the sample edition's reading order).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qa import ocrtext as ot
from qa.errors import InputError
from qa.types import KINDS, Article, stable_hash

__all__ = ["parse_page", "load_edition", "articles_from_jsonl", "format_articles"]

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
    """Lines -> bylines, jump notes and blank-line separated blocks of text."""
    units: list[_Unit] = []
    block: list[str] = []

    def flush() -> None:
        if block:
            units.append(_Unit("text", block.copy()))
            block.clear()

    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            flush()
            continue
        groups = ot.parse_byline(line)
        jump = ot.jump_line(line)
        if groups or jump:
            flush()
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
    return _captions(units)


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
        caption = ot.split_credit(ot.reflow(lines))
        assert caption is not None
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
        and text[-1] not in "，、：,:（(《“‘—-"
        and not ot.ends_sentence(text.rstrip("！？!?"))
        and not ot.is_lead(text)
    )


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
    # Title-like blocks followed by body text (not a new article) are subheads, if short.
    for i, u in enumerate(units):
        if u.kind != "title":
            continue
        j = i
        while j < len(units) and units[j].kind == "title":
            j += 1
        if j < len(units) and units[j].kind == "body" and not units[j].lead:
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
    """Vote on the layout: a page opening with a headline then a byline reads headline-first;
    one opening with a byline, or ending with a headline after the last body, reads headline-after."""
    first = after = 0
    titles = 0
    for u in units:
        if u.kind == "title":
            titles += 1
        elif u.kind == "caption":
            titles = 0
        else:
            if _is_anchor(u):
                if titles:
                    first += 1
                else:
                    after += 1
            break
    last = max((i for i, u in enumerate(units) if _is_anchor(u)), default=-1)
    tail = units[last + 1:]
    seen_body, run = False, 0
    for u in tail:
        if u.kind in ("body", "sub", "to"):
            seen_body = seen_body or u.kind == "body"
            continue
        if u.kind == "title" and seen_body:
            run += 1
            continue
        if u.kind == "caption" and run:
            run -= 1  # the title just above a caption is the photo's
        break
    if run:
        after += 1
    return first > 0 and first >= after


def parse_page(text: str, *, date: str = "", page: int = 0) -> list[Article]:
    """Parse one OCR'd page into its items, in reading order.

    Args:
        text: the page text as OCR'd (hard-wrapped lines, blank lines anywhere).
        date: ISO date of the edition ("" when unknown).
        page: page number (0 when unknown).

    Returns:
        Articles, photos and briefs. A page with text but no recognizable article gives one
        untitled article; a blank page gives [].
    """
    units = _units(text)
    if not units:
        return []
    _classify(units)
    if not any(_is_anchor(u) or u.kind == "caption" for u in units):
        lines = [line for u in units for line in u.lines + [""]]
        items: list[tuple[int, dict[str, Any]]] = [(0, {"body": ot.reflow(lines)})]
    else:
        items = _assemble(units, headline_first=_headline_first(units))
    items.sort(key=lambda item: item[0])
    return [_article(fields, date=date, page=page, n=n) for n, (_, fields) in enumerate(items, 1)]


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
                if headline_first and nxt is not None and _is_anchor(nxt):
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
            if cur is None or cur.closed or (u.lead and cur.body):
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


def _article(fields: dict[str, Any], *, date: str, page: int, n: int) -> Article:
    digest = stable_hash(fields.get("kind", "article"), fields.get("headline", ""), fields.get("body", ""))
    return Article(id=stable_hash(date, page, n, digest, length=12), date=date, page=page, **fields)


# ---------------------------------------------------------------- files


def load_edition(path: str | Path, *, date: str | None = None, page: int | None = None) -> list[Article]:
    """Read an edition page: a .txt OCR page or a .jsonl of structured articles.

    Args:
        path: the file.
        date: ISO date of the edition; default from a sidecar `<name>.json`, else the file name.
        page: page number; default likewise (`edition-2020-11-14-p01.txt` -> 2020-11-14, 1).

    Raises:
        InputError: missing, empty, binary or undecodable file, unknown extension, bad JSONL.
    """
    p = Path(path)
    if not p.exists():
        raise InputError(f"edition file not found: {p}")
    if p.is_dir():
        raise InputError(f"{p} is a folder; give an edition file (.txt or .jsonl)")
    suffix = p.suffix.lower()
    if suffix not in (".txt", ".text", ".jsonl"):
        raise InputError(f"{p.name}: unsupported file type '{suffix or '(none)'}'; use a .txt OCR page or a .jsonl of articles")
    text = _decode(p)
    meta_date, meta_page = _metadata(p)
    use_date = _check_date(date if date is not None else meta_date, p)
    use_page = int(page) if page is not None else meta_page
    if suffix == ".jsonl":
        return articles_from_jsonl(text, date=use_date, page=use_page, source=p.name, override=date is not None or page is not None)
    return parse_page(text, date=use_date, page=use_page)


def _decode(p: Path) -> str:
    data = p.read_bytes()
    if not data.strip():
        raise InputError(f"{p.name} is empty; give an edition page with text")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        encodings: tuple[str, ...] = ("utf-16",)
    else:
        if b"\x00" in data:
            raise InputError(f"{p.name} looks like a binary file, not text; give a .txt or .jsonl edition")
        encodings = ("utf-8-sig", "gb18030")
    for enc in encodings:
        try:
            text = data.decode(enc)
        except UnicodeDecodeError:
            continue
        controls = sum(1 for c in text if ord(c) < 32 and c not in "\n\r\t\f")
        if controls > max(2, len(text) // 100):
            raise InputError(f"{p.name} looks like a binary file, not text; give a .txt or .jsonl edition")
        return text
    raise InputError(f"{p.name}: cannot decode as {' or '.join(encodings)}; save it as UTF-8")


_NAME_DATE = re.compile(r"(\d{4}-\d{2}-\d{2})")
_NAME_PAGE = re.compile(r"(?:^|[-_.])p(?:age)?[-_]?(\d{1,3})(?:$|[-_.])", re.IGNORECASE)


def _metadata(p: Path) -> tuple[str, int]:
    """Date and page from the sidecar `<name>.json`, else from the file name."""
    sidecar = p.with_suffix(".json")
    if sidecar.is_file():
        try:
            meta = json.loads(sidecar.read_text(encoding="utf-8"))
            return str(meta.get("date") or ""), int(meta.get("page") or 0)
        except (ValueError, TypeError, AttributeError) as exc:
            raise InputError(f"{sidecar.name}: not a valid sidecar ({exc}); expected {{\"date\": \"YYYY-MM-DD\", \"page\": N}}") from exc
    m_date, m_page = _NAME_DATE.search(p.stem), _NAME_PAGE.search(p.stem)
    return (m_date.group(1) if m_date else ""), (int(m_page.group(1)) if m_page else 0)


def _check_date(date: str, p: Path | None = None) -> str:
    if date and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", date):
        where = f"{p.name}: " if p else ""
        raise InputError(f"{where}date '{date}' is not YYYY-MM-DD")
    return date


def articles_from_jsonl(
    text: str, *, date: str = "", page: int = 0, source: str = "<jsonl>", override: bool = False
) -> list[Article]:
    """Structured articles, one JSON object a line: headline, byline (string or list), body,
    and optional date, page, kicker, section, kind, subheads, continued_to/from, photographer.
    A line's own date/page win over the defaults unless `override` is set."""
    out: list[Article] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"{source} line {lineno}"
        try:
            obj = json.loads(line)
        except ValueError as exc:
            raise InputError(f"{where}: not valid JSON ({exc.args[0]})") from exc
        if not isinstance(obj, dict):
            raise InputError(f"{where}: expected a JSON object with headline, byline, body")
        out.append(_jsonl_article(obj, where, date, page, override, len(out) + 1))
    if not out:
        raise InputError(f"{source} has no articles")
    return out


def _jsonl_article(obj: dict[str, Any], where: str, date: str, page: int, override: bool, n: int) -> Article:
    def text(key: str) -> str:
        value = obj.get(key) or ""
        if not isinstance(value, str):
            raise InputError(f"{where}: '{key}' must be a string")
        return value.strip()

    headline, body = text("headline"), text("body").replace("\r\n", "\n")
    if not headline and not body:
        raise InputError(f"{where}: an article needs a headline or a body")
    kind = text("kind") or ("article" if body else "brief")
    if kind not in KINDS:
        raise InputError(f"{where}: kind '{kind}' is not one of {', '.join(KINDS)}")
    raw_byline = obj.get("byline") or []
    if isinstance(raw_byline, str):
        byline = ot.parse_byline(raw_byline) or ((raw_byline.strip(),) if raw_byline.strip() else ())
    elif isinstance(raw_byline, list) and all(isinstance(b, str) for b in raw_byline):
        byline = tuple(b.strip() for b in raw_byline if b.strip())
    else:
        raise InputError(f"{where}: 'byline' must be a string or a list of strings")
    subheads = obj.get("subheads") or []
    if not isinstance(subheads, list):
        raise InputError(f"{where}: 'subheads' must be a list of strings")
    own_date = "" if override else text("date")
    try:
        own_page = 0 if override else int(obj.get("page") or 0)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{where}: 'page' must be a number") from exc
    fields = {
        "kind": kind, "headline": headline, "kicker": text("kicker"), "byline": byline, "body": body,
        "subheads": tuple(str(s) for s in subheads), "section": text("section"),
        "continued_to": text("continued_to"), "continued_from": text("continued_from"),
        "photographer": text("photographer"),
    }
    return _article(fields, date=_check_date(own_date or date), page=own_page or page, n=n)


# ---------------------------------------------------------------- display


def format_articles(articles: list[Article]) -> str:
    """A plain-text table, one row per item: n, kind, title, byline, body length, jump."""
    header = ("n", "kind", "title", "byline", "chars", "continued")
    rows = [header]
    for n, a in enumerate(articles, 1):
        title = a.headline or f"[{a.title}]"
        byline = "; ".join(a.byline) or (f"{a.photographer} 摄" if a.photographer else "")
        jump = "; ".join(x for x in (a.continued_from and f"from {a.continued_from}", a.continued_to and f"to {a.continued_to}") if x)
        rows.append((str(n), a.kind, _clip(title, 34), _clip(byline, 30), str(len(a.body)), jump))
    widths = [max(ot.width(r[c]) for r in rows) for c in range(len(header))]
    lines = []
    for r in rows:
        cells = [cell + " " * int(2 * (widths[c] - ot.width(cell))) for c, cell in enumerate(r)]
        cells[0], cells[4] = r[0].rjust(int(2 * widths[0])), r[4].rjust(int(2 * widths[4]))
        lines.append("  ".join(cells).rstrip())
    lines.insert(1, "-" * int(2 * sum(widths) + 2 * (len(widths) - 1)))
    if any(not a.headline for a in articles):
        lines.append("[...] = no printed headline; title derived from the lead")
    return "\n".join(lines)


def _clip(text: str, limit: float) -> str:
    if ot.width(text) <= limit:
        return text
    out = ""
    for ch in text:
        if ot.width(out + ch) > limit - 1:
            break
        out += ch
    return out + "…"
