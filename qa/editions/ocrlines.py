"""From an OCR engine's lines to `qa.editions.pagelayout.TextLine`s: sizes, gutters, spaces.

The engine (`qa.editions.ocr`) gives each detected line its box and a box per character. Here:
  - the type size is measured from the character pitch (a line's width over its characters;
    box heights vary with the detector's margins), boxes are trimmed to that size, a short line
    takes the size of its neighbour, and sizes are snapped to the page's few type sizes;
  - a line is parted where the detector joined lines of neighbouring columns (a gap wider than
    an em after which other lines of the page start: a column's left edge);
  - a space is put where the image shows one between two characters.
"""

from __future__ import annotations

import bisect
import statistics
import unicodedata
from typing import Any

from qa.editions.pagelayout import TextLine, wide

__all__ = ["text_lines"]

# (x0, top, x1, bottom, text) of one character
_Char = tuple[float, float, float, float, str]


def text_lines(result: list[Any], ink: Any) -> list[TextLine]:
    """The printed lines of a page from the OCR engine's lines (box, text, score, character
    boxes, characters) and the page's ink (a boolean array, True where dark), in pixels."""
    pieces: list[list[_Char]] = []
    for box, text, _score, char_boxes, chars, *_ in result:
        pieces.append(_characters(box, text, char_boxes, chars))
    pitch_per_height = _pitch_per_height(pieces)
    starts = sorted(chars[0][0] for chars in pieces if chars)
    lines: list[TextLine] = []
    short: list[int] = []
    for chars in pieces:
        for run in _split_at_gutters(chars, starts):
            line = _line(run, pitch_per_height, ink)
            if line is not None:
                if _units(line.text.replace(" ", "")[:-1]) < _MEASURED:
                    short.append(len(lines))
                lines.append(line)
    return _snap_to_sizes(_snap_short_lines(lines, short))


# Lines of at least this many em have their type size measured from their pitch.
_MEASURED = 4


def _snap_to_sizes(lines: list[TextLine]) -> list[TextLine]:
    """Measured sizes scatter by a few percent; a page is set in a few sizes. The size most
    characters have takes every line within 7% of it, then the next among the rest, and so on;
    each line gets the median of its group. Body lines then share one size, and a title set
    1.15 times the body stays apart from the caption under it."""
    left = sorted(range(len(lines)), key=lambda k: lines[k].size)
    sizes = list(lines)
    while left:
        weight: dict[float, int] = {}
        for k in left:
            key = round(lines[k].size, 1)
            weight[key] = weight.get(key, 0) + len(lines[k].text)
        # the densest size: most characters within 3% of it
        centre = max(weight, key=lambda c: sum(w for s, w in weight.items() if abs(s - c) <= 0.03 * c))
        group = [k for k in left if abs(lines[k].size - centre) <= 0.07 * centre]
        size = statistics.median(lines[k].size for k in group)
        for k in group:
            ln = lines[k]
            middle = (ln.top + ln.bottom) / 2
            sizes[k] = TextLine(ln.x0, middle - size / 2, ln.x1, middle + size / 2, size, ln.text)
        chosen = set(group)
        left = [k for k in left if k not in chosen]
    return sizes


def _snap_short_lines(lines: list[TextLine], short: list[int]) -> list[TextLine]:
    """A short line ("展。”", the last line of a headline) has no pitch to measure, only a box
    height; it takes the size of the nearest measured line just above or below it in the same
    column where the two sizes are within a half (a short line's box is a poor measure), so it
    stays in its paragraph or headline."""
    unmeasured = set(short)
    measured = [ln for k, ln in enumerate(lines) if k not in unmeasured]
    out = list(lines)
    for k in short:
        ln = lines[k]
        near = [m for m in measured
                if min(m.x1, ln.x1) - max(m.x0, ln.x0) > 0 and abs(m.top - ln.top) < 2.5 * max(m.size, ln.size)]
        if not near:
            continue
        best = min(near, key=lambda m: abs(m.top - ln.top))
        if abs(best.size - ln.size) <= 0.5 * best.size:
            middle = (ln.top + ln.bottom) / 2
            out[k] = TextLine(ln.x0, middle - best.size / 2, ln.x1, middle + best.size / 2, best.size, ln.text)
    return out


def _characters(box: Any, text: str, char_boxes: Any, chars: Any) -> list[_Char]:
    """(x0, top, x1, bottom, text) per character; the line's box where the engine gave none."""
    xs = [pt[0] for pt in box]
    ys = [pt[1] for pt in box]
    top, bottom = min(ys), max(ys)
    same = bool(chars) and bool(char_boxes) and len(char_boxes) == len(chars)
    if not same or "".join(chars).replace(" ", "") != text.replace(" ", ""):
        return [(min(xs), top, max(xs), bottom, text)]
    out = []
    for cb, ch in zip(char_boxes, chars):
        cx = [pt[0] for pt in cb]
        out.append((float(min(cx)), top, float(max(cx)), bottom, ch))
    return out


def _units(text: str) -> float:
    """A line's width in em: full-width characters 1, others about half."""
    return sum(1.0 if wide(c) else 0.5 for c in text)


def _pitch_per_height(pieces: list[list[_Char]]) -> float:
    """The page's ratio of type size (character pitch) to detected box height, from its long lines."""
    ratios = []
    for chars in pieces:
        text = "".join(c[4] for c in chars)
        units = _units(text)
        if units >= 6:
            width = chars[-1][2] - chars[0][0]
            height = chars[0][3] - chars[0][1]
            if height > 0:
                ratios.append(width / units / height)
    return statistics.median(ratios) if ratios else 0.75


def _split_at_gutters(chars: list[_Char],
                      starts: list[float]) -> list[list[_Char]]:
    """Part a detected line where the detector joined lines of neighbouring columns: at a gap
    wider than an em after which at least three other lines of the page start (a column's
    left edge). A wide space inside one line (between the roles of a byline) is kept."""
    if len(chars) < 2:
        return [chars]
    em = _em(chars)
    runs = [[chars[0]]]
    for prev, cur in zip(chars, chars[1:]):
        if cur[0] - prev[2] > em:
            lo = bisect.bisect_left(starts, cur[0] - 0.6 * em)
            hi = bisect.bisect_right(starts, cur[0] + 0.6 * em)
            if hi - lo >= 3:
                runs.append([])
        runs[-1].append(cur)
    return runs


def _em(chars: list[_Char]) -> float:
    """The type size of a run of characters: the median pitch of its full-width characters, else its height."""
    pitches = [c[2] - c[0] for c in chars if wide(c[4])]
    height = chars[0][3] - chars[0][1]
    if len(pitches) >= 2:
        return max(statistics.median(pitches), 0.5 * height)
    return 0.75 * height


def _line(run: list[_Char], pitch_per_height: float, ink: Any) -> TextLine | None:
    """One TextLine from a run of characters: size from the pitch, box trimmed to the size, spaces where the print has them."""
    x0, x1 = run[0][0], run[-1][2]
    top, bottom = run[0][1], run[0][3]
    height = bottom - top
    # the pitch from the first character's left edge to the last one's: a closing "。" inks
    # only part of its em, so the right edge would shrink the measure
    units = _units("".join(c[4] for c in run[:-1]).replace(" ", ""))
    size = (run[-1][0] - x0) / units if units >= _MEASURED else height * pitch_per_height
    size = min(max(size, 0.4 * height), 1.2 * height)
    spaces = _space_positions(run, size, ink)
    parts: list[str] = []
    for k, c in enumerate(run):
        if k in spaces and parts and not parts[-1].endswith(" ") and not c[4].startswith(" "):
            parts.append(" ")
        parts.append(c[4])
    text = "".join(parts).strip()
    if not text or (len(text) <= 2 and all(_punctuation(c) for c in text)):
        return None  # nothing, or a speck read as a lone "、" in a gutter
    middle = (top + bottom) / 2
    return TextLine(x0, middle - size / 2, x1, middle + size / 2, size, text)


def _space_positions(run: list[_Char], size: float, ink: Any) -> set[int]:
    """Indexes k of the run with a printed space before character k: a white gap in the image
    at least 0.3 em wide (a space set in CJK text; glyphs themselves stand about 0.1 em apart
    and hold no gap wider than 0.2 em) between two characters that are not punctuation (a
    full-width comma leaves half an em of white by itself)."""
    import numpy as np

    h, w = ink.shape
    top, bottom = max(int(run[0][1]), 0), min(int(run[0][3]) + 1, h)
    left, right = max(int(run[0][0]), 0), min(int(run[-1][2]) + 1, w)
    if bottom - top < 2 or right - left < 2 or len(run) < 2:
        return set()
    columns = ink[top:bottom, left:right].sum(axis=0) >= 1
    # white runs between inked columns
    edges = np.flatnonzero(np.diff(columns.astype(np.int8)))
    out: set[int] = set()
    for start, stop in zip(edges[::2], edges[1::2]) if columns[0] else zip(edges[1::2], edges[2::2]):
        gap0, gap1 = left + start + 1, left + stop + 1
        if gap1 - gap0 < 0.3 * size:
            continue
        middle = (gap0 + gap1) / 2
        k = min(range(1, len(run)), key=lambda j: abs((run[j - 1][2] + run[j][0]) / 2 - middle))
        if _punctuation(run[k - 1][4]) or _punctuation(run[k][4]):
            continue
        if abs((run[k - 1][2] + run[k][0]) / 2 - middle) <= 0.6 * size:
            out.add(k)
    return out


def _punctuation(text: str) -> bool:
    return any(unicodedata.category(ch).startswith(("P", "S")) for ch in text)
