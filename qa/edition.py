"""Parse an edition page (OCR'd text or structured JSONL) into `Article`s.

`qa.layout` finds the items of an OCR'd page; this module gives them stable ids, reads files
(encodings, sidecar metadata, JSONL) and formats a table for the CLI.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from qa import ocrtext as ot
from qa.errors import InputError
from qa.layout import page_items
from qa.types import KINDS, Article, stable_hash

__all__ = ["parse_page", "load_edition", "articles_from_jsonl", "format_articles"]


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
    return [_article(fields, date=date, page=page, n=n) for n, fields in enumerate(page_items(text), 1)]


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
