"""Parse an edition page (OCR'd text or structured JSONL) into `Article`s.

`qa.editions.layout` finds the items of an OCR'd page; this module gives them stable ids, reads files
(encodings, sidecar metadata, JSONL) and formats a table for the CLI.
"""

from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path
from typing import Any

from qa.editions import ocrtext as ot
from qa.editions.layout import page_items
from qa.editions.ocr import IMAGE_SUFFIXES, Progress
from qa.errors import InputError
from qa.types import KINDS, Article, stable_hash

__all__ = ["EDITION_SUFFIXES", "IMAGE_SUFFIXES", "parse_page", "load_edition", "articles_from_jsonl", "format_articles"]

# File types `load_edition` reads (`edition-qa add FOLDER` picks these up).
EDITION_SUFFIXES = (".txt", ".text", ".jsonl", ".pdf", *IMAGE_SUFFIXES)
_KINDS_OF_FILE = "a .txt OCR page, a .jsonl of articles, a .pdf page or a scanned page (.png, .jpg, .tif)"


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


def load_edition(path: str | Path, *, date: str | None = None, page: int | None = None,
                 progress: Progress = False) -> list[Article]:
    """Read an edition page: a .txt OCR page, a .jsonl of structured articles, an e-paper .pdf
    (pages without a text layer are OCR'd) or a scanned page image (.png, .jpg, .tif; OCR'd).

    Args:
        path: the file.
        date: ISO date of the edition; default from a sidecar `<name>.json`, else the file name.
        page: page number; default likewise (`edition-2020-11-14-p01.txt` -> 2020-11-14, 1).
            A multi-page PDF or TIFF numbers its pages from this one on (from 1 when unknown).
        progress: while pages are OCR'd, True shows a progress bar on stderr; a function is
            called with (pages done, pages in all) after each page.

    Raises:
        InputError: missing, empty, binary or undecodable file, unknown extension, bad JSONL,
            a PDF password-protected, damaged or not a PDF at all, an image damaged, too large
            or without text.
    """
    p = Path(path)
    if not p.exists():
        raise InputError(f"edition file not found: {p}")
    if p.is_dir():
        raise InputError(f"{p} is a folder; give an edition file ({_KINDS_OF_FILE})")
    suffix = p.suffix.lower()
    if suffix not in EDITION_SUFFIXES:
        raise InputError(f"{p.name}: unsupported file type '{suffix or '(none)'}'; use {_KINDS_OF_FILE}")
    if suffix == ".pdf" or suffix in IMAGE_SUFFIXES:
        return _load_pages(p, date=date, page=page, progress=progress)
    text = _decode(p)
    meta_date, meta_page = _metadata(p)
    if date is not None:
        _check_date(date, p)
    if page is not None and (not isinstance(page, int) or page < 0):
        raise InputError(f"{p.name}: page must be a whole number >= 0, not {page!r}")
    if suffix == ".jsonl":
        return articles_from_jsonl(
            text, date=date, page=page, default_date=_check_date(meta_date, p), default_page=meta_page, source=p.name
        )
    return parse_page(text, date=date if date is not None else _check_date(meta_date, p), page=meta_page if page is None else page)


def _load_pages(p: Path, *, date: str | None, page: int | None, progress: Progress) -> list[Article]:
    """Articles of every page of a PDF or image file; its page k (from 0) is printed page `page + k`.
    Page 0 (unknown) numbers a one-page file 0, as for a .txt page, and a longer one 1..n."""
    meta_date, meta_page = _metadata(p)
    if page is not None and (not isinstance(page, int) or page < 0):
        raise InputError(f"{p.name}: page must be a whole number >= 0, not {page!r}")
    use_date = _check_date(date, p) if date is not None else _check_date(meta_date, p)
    # pdfminer and the OCR engine are imported only when such a file is read
    if p.suffix.lower() == ".pdf":
        from qa.editions.pdf import pdf_page_texts

        texts = pdf_page_texts(p, progress=progress)
    else:
        from qa.editions.ocr import image_page_texts

        texts = image_page_texts(p, progress=progress)
    first = (meta_page if page is None else page) or (0 if len(texts) == 1 else 1)
    return [a for k, text in enumerate(texts) if text.strip() for a in parse_page(text, date=use_date, page=first + k)]


def _decode(p: Path) -> str:
    """utf-8 (with or without BOM), a few damaged bytes tolerated; else gb18030 (GBK); utf-16 with a BOM."""
    data = p.read_bytes()
    if not data.strip():
        raise InputError(f"{p.name} is empty; give an edition page with text")
    binary = InputError(f"{p.name} looks like a binary file, not text; give a .txt or .jsonl edition")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        candidates = [data.decode("utf-16", errors="replace")]
    elif b"\x00" in data:
        raise binary
    else:
        utf8 = data.decode("utf-8-sig", errors="replace")
        # GBK text read as utf-8 breaks on nearly every character; an OCR'd utf-8 page with a
        # damaged byte or two is still that page, and gb18030 would turn it into other characters.
        candidates = [utf8] if utf8.count("\ufffd") <= max(2, len(utf8) // 1000) else []
        try:
            candidates.append(data.decode("gb18030"))
        except UnicodeDecodeError:
            pass
    if not candidates:
        raise InputError(f"{p.name}: cannot decode as utf-8 or gb18030 (GBK); save it as UTF-8")
    text = candidates[0]
    if sum(1 for c in text if ord(c) < 32 and c not in "\n\r\t\f") > max(2, len(text) // 100):
        raise binary
    return text


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


def _check_date(date: str, where: Path | str = "") -> str:
    if date and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", date):
        prefix = f"{where.name if isinstance(where, Path) else where}: " if where else ""
        raise InputError(f"{prefix}date '{date}' is not YYYY-MM-DD")
    return date


def articles_from_jsonl(
    text: str,
    *,
    date: str | None = None,
    page: int | None = None,
    default_date: str = "",
    default_page: int = 0,
    source: str = "<jsonl>",
) -> list[Article]:
    """Structured articles, one JSON object a line: headline, byline (string or list), body,
    and optional date, page, kicker, section, kind, subheads, continued_to/from, photographer.

    `date`/`page` given here win over a line's own; a line's own win over the defaults."""
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
        fields, own_date, own_page = _jsonl_fields(obj, where)
        use_date = date if date is not None else (own_date or default_date)
        use_page = page if page is not None else (own_page or default_page)
        out.append(_article(fields, date=_check_date(use_date), page=use_page, n=len(out) + 1))
    if not out:
        raise InputError(f"{source} has no articles")
    return out


def _jsonl_fields(obj: dict[str, Any], where: str) -> tuple[dict[str, Any], str, int]:
    """Article fields of one JSONL object, with its own date and page ("" and 0 when absent)."""
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
    try:
        own_page = int(obj.get("page") or 0)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{where}: 'page' must be a number") from exc
    fields = {
        "kind": kind, "headline": headline, "kicker": text("kicker"), "byline": byline, "body": body,
        "subheads": tuple(str(s) for s in subheads), "section": text("section"),
        "continued_to": text("continued_to"), "continued_from": text("continued_from"),
        "photographer": text("photographer"),
    }
    return fields, _check_date(text("date"), where), own_page


# ---------------------------------------------------------------- display


def format_articles(articles: list[Article]) -> str:
    """A plain-text table, one row per item: n, kind, title, byline, body length, jump
    (and the page first, when the items come from several pages, as a multi-page PDF's do)."""
    pages = len({a.page for a in articles}) > 1
    header = ("n", "kind", "title", "byline", "chars", "continued")
    rows = [("page",) * pages + header]
    for n, a in enumerate(articles, 1):
        title = a.headline or f"[{a.title}]"
        byline = "; ".join(a.byline) or (f"{a.photographer} 摄" if a.photographer else "")
        jumps = (a.continued_from and f"from {a.continued_from}", a.continued_to and f"to {a.continued_to}")
        rows.append((str(a.page),) * pages + (str(n), a.kind, _clip(title, 44), _clip(byline, 40), str(len(a.body)), "; ".join(j for j in jumps if j)))
    widths = [max(_cols(r[c]) for r in rows) for c in range(len(rows[0]))]
    right = {0, 1, 5} if pages else {0, 4}  # numbers
    lines = []
    for r in rows:
        pads = [" " * (widths[c] - _cols(cell)) for c, cell in enumerate(r)]
        cells = [pads[c] + cell if c in right else cell + pads[c] for c, cell in enumerate(r)]
        lines.append("  ".join(cells).rstrip())
    lines.insert(1, "-" * (sum(widths) + 2 * (len(widths) - 1)))
    if any(not a.headline for a in articles):
        lines.append("[...] = no printed headline; title derived from the lead")
    return "\n".join(lines)


def _cols(text: str) -> int:
    """Terminal columns: wide (CJK) characters take two, everything else (curly quotes too) one."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _clip(text: str, limit: int) -> str:
    if _cols(text) <= limit:
        return text
    out = ""
    for ch in text:
        if _cols(out + ch) > limit - 1:
            break
        out += ch
    return out + "…"
