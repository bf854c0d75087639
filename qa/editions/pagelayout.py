"""Reading order of a page from its text lines and their boxes: shared by PDF text layers and OCR.

Lines (a box, a type size, the text) become blocks (one column, one type size, no wide gap);
blocks are put in reading order by cutting the page recursively (an XY-cut): first into
columns where a vertical band of white runs through the whole region, left to right, else into
bands where a horizontal band of white does, top to bottom. A headline spanning columns stops
the column cut, so it stays in its vertical place above (or between) the columns it heads; so
does a banner headline centred over some of the columns beneath it, whose text starts below it.

The result has the shape of an OCR'd page: a blank line between blocks and between paragraphs,
a headline (a block set larger than the body) on lines of its own, so the page parser
(`qa.editions.layout`) finds headlines, bylines and bodies as it does for .txt pages.
Coordinates are top-down (y grows down the page), in any unit, with `size` in the same unit.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from dataclasses import dataclass, field

from qa.editions.ocrtext import ends_sentence

__all__ = ["TextLine", "page_text", "same_size", "wide"]


@dataclass
class TextLine:
    """One printed line: its box (top-down), its type size and its text."""

    x0: float
    top: float
    x1: float
    bottom: float
    size: float
    text: str


@dataclass
class _Block:
    lines: list[TextLine] = field(default_factory=list)
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


def wide(ch: str) -> bool:
    """A full-width (CJK) character."""
    return bool(ch) and unicodedata.east_asian_width(ch) in "WF"


def same_size(a: float, b: float) -> bool:
    return abs(a - b) <= 0.12 * max(a, b)


def page_text(lines: list[TextLine]) -> str:
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
    if not (same_size(before.size, body) and same_size(after.size, body)) or len(before.lines) < 2:
        return False
    last, first = before.lines[-1], after.lines[0]
    full = last.x1 >= before.x1 - 0.8 * last.size  # the line reaches the column's right edge
    indented = len(after.lines) > 1 and first.x0 - after.x0 >= 0.8 * first.size
    return full and not indented and not ends_sentence(last.text)


def _body_size(lines: list[TextLine]) -> float:
    """The body type size: the size most characters on the page are set in."""
    sizes: Counter[float] = Counter()
    for line in lines:
        sizes[round(line.size * 2) / 2] += len(line.text)
    return sizes.most_common(1)[0][0]


def _blocks(lines: list[TextLine], body: float) -> list[_Block]:
    """Group lines into blocks: same column (overlapping x), same type size, close below the last line."""
    blocks: list[_Block] = []
    for line in sorted(lines, key=lambda ln: (ln.top, ln.x0)):
        best = None
        for b in blocks:
            last = b.lines[-1]
            overlap = min(last.x1, line.x1) - max(last.x0, line.x0)
            gap = line.top - last.bottom
            if (
                same_size(b.size, line.size)
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
    if cut is not None and not _banner_over(blocks, cut, body):
        left = [b for b in blocks if b.x1 <= cut]
        right = [b for b in blocks if b.x1 > cut]
        return _order(left, body) + _order(right, body)
    bands = _bands(blocks)
    if len(bands) > 1:
        return [b for band in bands for b in _order(band, body)]
    return sorted(blocks, key=lambda b: (b.top, b.x0))


def _banner_over(blocks: list[_Block], cut: float, body: float) -> bool:
    """True where a headline wider than a column, on one side of the cut, stands above all the
    text of both sides: it heads both (a banner centred over some of the columns beneath it),
    so the region is read in bands, not in columns."""
    widths = sorted(b.x1 - b.x0 for b in blocks if same_size(b.size, body))
    if not widths:
        return False
    column = widths[len(widths) // 2]
    for head in blocks:
        if head.size < 1.2 * body or head.x1 - head.x0 < 1.5 * column:
            continue
        side = head.x1 <= cut
        other = [b for b in blocks if (b.x1 <= cut) != side]
        text = [b for b in blocks if same_size(b.size, body)]
        if other and min(b.top for b in other) >= head.bottom and all(b.top >= head.bottom for b in text):
            return True
    return False


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
    """A block's lines; a blank line where a paragraph starts (an indent or extra space above;
    a line centred under the one before, the end of a title or caption, is no indent)."""
    left, right = block.x0, block.x1
    out: list[str] = []
    previous: TextLine | None = None
    for line in block.lines:
        if previous is not None:
            margin_left, margin_right = line.x0 - left, right - line.x1
            centred = margin_right >= 0.8 * line.size and abs(margin_left - margin_right) < line.size
            indent = margin_left >= 0.8 * line.size and not centred
            spaced = line.top - previous.bottom > 0.6 * line.size
            if (indent or spaced) and block.size < 1.2 * body:
                out.append("")
        out.append(line.text)
        previous = line
    return out
