"""Read the text layer of e-paper PDF pages into the page text `qa.editions.parse.parse_page` reads.

pdfminer.six gives the text lines of a page with their boxes and font sizes;
`qa.editions.pagelayout` puts them in reading order (columns, bands, headlines on lines of
their own) as the text of an OCR'd page, which the existing page parser reads as it reads .txt pages.

A multi-page PDF is an edition of several pages: PDF page k is printed page `first + k`
(first from the options, a sidecar or the file name's pNN, else 1). Pages without a text layer
are OCR'd; pages where OCR finds no text either (a full-page photo) are skipped; a file with no
text on any page is refused.
"""

from __future__ import annotations

import logging
import re
import statistics
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import pairwise
from pathlib import Path
from typing import Any

from qa.editions.ocr import Progress
from qa.editions.pagelayout import TextLine, page_text, same_size, wide
from qa.errors import InputError

__all__ = ["pdf_page_texts"]

_CID = re.compile(r"\(cid:\d+\)")
_TODO_SCAN = "give a scan of printed text at 200-400 dpi, or the page's text as a .txt"


# ---------------------------------------------------------------- reading the file


def pdf_page_texts(path: str | Path, *, progress: Progress = False) -> list[str]:
    """One text per PDF page, in column order, shaped like OCR'd page text ("" for a page without text).

    A page without a text layer (a scan), or whose glyphs have no Unicode mapping, is rendered
    and OCR'd (`qa.editions.ocr`); a page where OCR finds no text either (a full-page photo) is "".
    `progress` shows the pages OCR'd (`qa.editions.ocr.Progress`).

    Raises:
        InputError: not a PDF, damaged or truncated, password-protected, or no text on any page.
    """
    p = Path(path)
    pages = [_page_lines(layout) for layout in _layouts(p)]
    texts = [page_text(lines) for lines, _ in pages]
    blank = [k for k, t in enumerate(texts) if not t.strip()]
    if blank:
        from qa.editions.ocr import ocr_page_text, pdf_page_images, progress_pages

        for k, image in zip(blank, progress_pages(pdf_page_images(p, blank), len(blank), progress, p.name)):
            texts[k] = ocr_page_text(image)
    if not any(t.strip() for t in texts):
        if any(unmapped for _, unmapped in pages):
            raise InputError(f"{p.name}: its text layer has no Unicode mapping and OCR found no text on its pages; {_TODO_SCAN}")
        raise InputError(f"{p.name} has no text layer and OCR found no printed text on its pages (a photo?); {_TODO_SCAN}")
    return texts


@contextmanager
def _quiet_pdfminer() -> Iterator[None]:
    """pdfminer logs warnings about damaged files itself; the user gets our one line instead."""
    logger = logging.getLogger("pdfminer")
    level = logger.level
    logger.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        logger.setLevel(level)


def _layouts(p: Path) -> list[Any]:
    """pdfminer's page layouts; every way a file can fail becomes one InputError."""
    from pdfminer.high_level import extract_pages
    from pdfminer.layout import LAParams
    from pdfminer.pdfdocument import PDFEncryptionError, PDFPasswordIncorrect

    data = p.read_bytes()
    if not data.strip():
        raise InputError(f"{p.name} is empty; give an edition page with text")
    if b"%PDF-" not in data[:1024]:
        raise InputError(f"{p.name} is not a PDF (no %PDF- header); give a real PDF, or rename a text page to .txt")
    if b"%%EOF" not in data[-2048:]:
        raise InputError(f"{p.name} is truncated (no end-of-file marker); download or export the PDF again")
    # char_margin 1.0 (pdfminer: 2.0): a gutter of little more than one character still parts
    # two columns; justified CJK lines stay whole.
    params = LAParams(char_margin=1.0, line_margin=0.5, word_margin=0.1, all_texts=True)
    try:
        with _quiet_pdfminer():
            return list(extract_pages(p, laparams=params))
    except (PDFPasswordIncorrect, PDFEncryptionError) as exc:
        raise InputError(f"{p.name} is password-protected; save an unprotected copy and give that") from exc
    except Exception as exc:  # pdfminer raises many kinds (PSEOF, KeyError, ...) on damaged files
        if "password" in str(exc).lower() or "encrypt" in str(exc).lower():
            raise InputError(f"{p.name} is password-protected; save an unprotected copy and give that") from exc
        raise InputError(f"{p.name} is damaged and cannot be read as a PDF; download or export it again") from exc


def _page_lines(layout: Any) -> tuple[list[TextLine], int]:
    """The horizontal text lines of one page (top-down coordinates, with their font size), and
    how many glyphs had no Unicode mapping (pdfminer writes those "(cid:N)"; they are dropped)."""
    from pdfminer.layout import LTChar, LTContainer, LTTextLineHorizontal

    height = layout.height
    lines: list[TextLine] = []
    unmapped = 0

    def walk(obj: Any) -> None:
        nonlocal unmapped
        for child in obj:
            if isinstance(child, LTTextLineHorizontal):
                chars = [c for c in child if isinstance(c, LTChar)]
                text, n = _CID.subn("", _line_text(chars))
                unmapped += n
                text = "".join(c for c in text if c >= " ").strip()
                sizes = [c.size for c in chars if c.get_text().strip()]
                if text and sizes:
                    lines.append(TextLine(child.x0, height - child.y1, child.x1, height - child.y0,
                                       statistics.median(sizes), text))
            elif isinstance(child, LTContainer):
                walk(child)

    walk(layout)
    return _join_fragments(lines), unmapped


def _join_fragments(lines: list[TextLine]) -> list[TextLine]:
    """Join pieces of one printed line that pdfminer parted at a narrow gap (letter-spaced Latin
    next to a space glyph): same baseline and size, less than 0.6 of a character apart. Column
    gutters are wider than that, and pdfminer already joins anything closer than one character."""
    out: list[TextLine] = []
    for line in sorted(lines, key=lambda ln: (ln.bottom, ln.x0)):
        prev = next((o for o in reversed(out[-4:]) if abs(o.bottom - line.bottom) <= 0.2 * line.size), None)
        if prev is not None and same_size(prev.size, line.size) and 0 <= line.x0 - prev.x1 < 0.6 * line.size:
            sep = " " if not (wide(prev.text[-1]) or wide(line.text[0])) else ""
            out[out.index(prev)] = TextLine(prev.x0, min(prev.top, line.top), line.x1, max(prev.bottom, line.bottom),
                                         max(prev.size, line.size), prev.text + sep + line.text)
        else:
            out.append(line)
    return out


def _line_text(chars: list[Any]) -> str:
    """The text of a line from its glyphs. pdfminer would put a space into every gap wider than
    a tenth of a character, which spaces out justified (letter-spaced) Chinese "义 乌 绿 色";
    here a gap makes a space only between two narrow (Latin) glyphs, and only where it is wider
    than the line's usual gap by a sixth of the font size. Printed spaces are kept."""
    gaps = sorted(b.x0 - a.x1 for a, b in pairwise(chars))
    usual = gaps[len(gaps) // 2] if gaps else 0.0
    out: list[str] = []
    for k, ch in enumerate(chars):
        text = ch.get_text()
        if k and out and not out[-1].endswith(" ") and not text.startswith(" "):
            before = chars[k - 1].get_text()
            gap = ch.x0 - chars[k - 1].x1
            if not (wide(before[-1:]) or wide(text[:1])) and gap - usual > ch.size / 6:
                out.append(" ")
        out.append(text)
    return "".join(out)
