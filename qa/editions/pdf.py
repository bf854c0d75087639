"""Read the text layer of e-paper PDF pages into the page text `qa.editions.parse.parse_page` reads.

pdfminer.six gives the text lines of a page with their boxes and font sizes. Lines become
blocks (one column, one font size, no wide gap); blocks are put in reading order by cutting
the page recursively (an XY-cut): first into columns where a vertical band of white runs
through the whole region, left to right, else into bands where a horizontal band of white
does, top to bottom. A headline spanning columns stops the column cut, so it stays in its
vertical place above (or between) the columns it heads.

The result has the shape of an OCR'd page: a blank line between blocks and between
paragraphs, a headline (a block set larger than the body) on lines of its own, so the
existing page parser finds headlines, bylines and bodies as it does for .txt pages.

A multi-page PDF is an edition of several pages: PDF page k is printed page `first + k`
(first from the options, a sidecar or the file name's pNN, else 1). Pages without text
(a full-page photo or advert) are skipped; a file with no text on any page is refused.
"""

from __future__ import annotations

import logging
import re
import statistics
import unicodedata
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

from qa.editions.ocrtext import ends_sentence
from qa.errors import InputError

__all__ = ["pdf_page_texts"]

_CID = re.compile(r"\(cid:\d+\)")
_TODO_SCAN = "OCR it first (e.g. with ocrmypdf) or give the page's OCR text as a .txt"


@dataclass
class _Line:
    x0: float
    top: float
    x1: float
    bottom: float
    size: float
    text: str


@dataclass
class _Block:
    lines: list[_Line] = field(default_factory=list)
    size: float = 0.0

    @property
    def x0(self) -> float:
        return min(line.x0 for line in self.lines)

    @property
    def x1(self) -> float:
        return max(line.x1 for line in self.lines)

    @property
    def top(self) -> float:
        return self.lines[0].top

    @property
    def bottom(self) -> float:
        return self.lines[-1].bottom


# ---------------------------------------------------------------- reading the file


def pdf_page_texts(path: str | Path) -> list[str]:
    """One text per PDF page, in column order, shaped like OCR'd page text ("" for a page without text).

    Raises:
        InputError: not a PDF, damaged or truncated, password-protected, or no text layer at all.
    """
    p = Path(path)
    pages = [_page_lines(layout) for layout in _layouts(p)]
    texts = [_page_text(lines) for lines, _ in pages]
    if not any(t.strip() for t in texts):
        if any(unmapped for _, unmapped in pages):
            raise InputError(f"{p.name}: its text layer has no Unicode mapping, so the characters cannot be read; {_TODO_SCAN}")
        raise InputError(f"{p.name} has no text layer (a scanned image?); {_TODO_SCAN}")
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


def _page_lines(layout: Any) -> tuple[list[_Line], int]:
    """The horizontal text lines of one page (top-down coordinates, with their font size), and
    how many glyphs had no Unicode mapping (pdfminer writes those "(cid:N)"; they are dropped)."""
    from pdfminer.layout import LTChar, LTContainer, LTTextLineHorizontal

    height = layout.height
    lines: list[_Line] = []
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
                    lines.append(_Line(child.x0, height - child.y1, child.x1, height - child.y0,
                                       statistics.median(sizes), text))
            elif isinstance(child, LTContainer):
                walk(child)

    walk(layout)
    return _join_fragments(lines), unmapped


def _join_fragments(lines: list[_Line]) -> list[_Line]:
    """Join pieces of one printed line that pdfminer parted at a narrow gap (letter-spaced Latin
    next to a space glyph): same baseline and size, less than 0.6 of a character apart. Column
    gutters are wider than that, and pdfminer already joins anything closer than one character."""
    out: list[_Line] = []
    for line in sorted(lines, key=lambda ln: (ln.bottom, ln.x0)):
        prev = next((o for o in reversed(out[-4:]) if abs(o.bottom - line.bottom) <= 0.2 * line.size), None)
        if prev is not None and _same_size(prev.size, line.size) and 0 <= line.x0 - prev.x1 < 0.6 * line.size:
            sep = " " if not (_wide(prev.text[-1]) or _wide(line.text[0])) else ""
            out[out.index(prev)] = _Line(prev.x0, min(prev.top, line.top), line.x1, max(prev.bottom, line.bottom),
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
            if not (_wide(before[-1:]) or _wide(text[:1])) and gap - usual > ch.size / 6:
                out.append(" ")
        out.append(text)
    return "".join(out)


def _wide(ch: str) -> bool:
    return bool(ch) and unicodedata.east_asian_width(ch) in "WF"


# ---------------------------------------------------------------- layout


def _page_text(lines: list[_Line]) -> str:
    """Lines of one page -> text in reading order: blocks parted by blank lines."""
    if not lines:
        return ""
    body = _body_size(lines)
    out: list[str] = []
    previous: _Block | None = None
    for block in _order(_blocks(lines, body), body):
        if previous is not None and not _runs_on(previous, block, body):
            out.append("")
        out += _block_lines(block, body)
        previous = block
    return "\n".join(out) + "\n"


def _runs_on(before: _Block, after: _Block, body: float) -> bool:
    """True where a paragraph runs on from the foot of one column to the top of the next: the
    column ends mid-sentence on a full line and the next starts without an indent. No blank line
    goes between them, or the parser would take the cut-off line for a subhead."""
    if not (_same_size(before.size, body) and _same_size(after.size, body)) or len(before.lines) < 2:
        return False
    last, first = before.lines[-1], after.lines[0]
    full = last.x1 >= before.x1 - 0.8 * last.size  # the line reaches the column's right edge
    indented = len(after.lines) > 1 and first.x0 - after.x0 >= 0.8 * first.size
    return full and not indented and not ends_sentence(last.text)


def _body_size(lines: list[_Line]) -> float:
    """The body font size: the size most characters on the page are set in."""
    sizes: Counter[float] = Counter()
    for line in lines:
        sizes[round(line.size * 2) / 2] += len(line.text)
    return sizes.most_common(1)[0][0]


def _same_size(a: float, b: float) -> bool:
    return abs(a - b) <= 0.12 * max(a, b)


def _blocks(lines: list[_Line], body: float) -> list[_Block]:
    """Group lines into blocks: same column (overlapping x), same font size, close below the last line."""
    blocks: list[_Block] = []
    for line in sorted(lines, key=lambda ln: (ln.top, ln.x0)):
        best = None
        for b in blocks:
            last = b.lines[-1]
            overlap = min(last.x1, line.x1) - max(last.x0, line.x0)
            gap = line.top - last.bottom
            if (
                _same_size(b.size, line.size)
                and overlap > 0.5 * min(last.x1 - last.x0, line.x1 - line.x0)
                and -0.3 * line.size <= gap <= 1.2 * max(line.size, body)
            ):
                best = b
        if best is None:
            best = _Block(size=line.size)
            blocks.append(best)
        best.lines.append(line)
    return blocks


def _order(blocks: list[_Block], body: float) -> list[_Block]:
    """Reading order by recursive XY-cut: columns left to right first, else bands top to bottom."""
    if len(blocks) <= 1:
        return blocks
    cut = _column_cut(blocks, min_gap=0.25 * body)
    if cut is not None:
        left = [b for b in blocks if b.x1 <= cut]
        right = [b for b in blocks if b.x1 > cut]
        return _order(left, body) + _order(right, body)
    bands = _bands(blocks)
    if len(bands) > 1:
        return [b for band in bands for b in _order(band, body)]
    return sorted(blocks, key=lambda b: (b.top, b.x0))


def _column_cut(blocks: list[_Block], *, min_gap: float) -> float | None:
    """The x of the leftmost vertical band of white through all blocks, or None."""
    spans = sorted((b.x0, b.x1) for b in blocks)
    reach = spans[0][1]
    for x0, x1 in spans[1:]:
        if x0 - reach >= min_gap:
            return (reach + x0) / 2
        reach = max(reach, x1)
    return None


def _bands(blocks: list[_Block]) -> list[list[_Block]]:
    """Blocks parted where a horizontal band of white runs across all of them."""
    bands: list[list[_Block]] = []
    reach = float("-inf")
    for b in sorted(blocks, key=lambda b: (b.top, b.x0)):
        if not bands or b.top >= reach:
            bands.append([])
        bands[-1].append(b)
        reach = max(reach, b.bottom)
    return bands


def _block_lines(block: _Block, body: float) -> list[str]:
    """A block's lines; a blank line where a paragraph starts (an indent or extra space above)."""
    left = block.x0
    out: list[str] = []
    previous: _Line | None = None
    for line in block.lines:
        if previous is not None:
            indent = line.x0 - left >= 0.8 * line.size
            spaced = line.top - previous.bottom > 0.6 * line.size
            if (indent or spaced) and block.size < 1.2 * body:
                out.append("")
        out.append(line.text)
        previous = line
    return out
