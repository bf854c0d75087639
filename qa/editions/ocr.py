"""OCR of scanned pages (PNG, JPEG, TIFF, image-only PDF pages) into the page text the parser reads.

The engine is RapidOCR on ONNX Runtime with the PP-OCRv4 Chinese/English models its wheel
ships (Apache-2.0; chosen over Tesseract's chi_sim by character error rate and speed on two
cores, docs/ocr.md). It finds text lines and reads them, with a box per character.

Its lines become `qa.editions.pagelayout.TextLine`s with a type size measured from the
character pitch (a line's width over its characters; box heights vary with the detector's
margins), boxes trimmed to that size, a line parted where a gap between two characters is a
column gutter, and a space put where the gap is a printed space. `qa.editions.pagelayout` then
reads the page in column order, as for a PDF's text layer.

Bad images (empty, truncated, not an image, too large) raise one-line `InputError`s.
"""

from __future__ import annotations

import statistics
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from qa.editions.pagelayout import TextLine, page_text, wide
from qa.errors import InputError, ModelError

__all__ = ["IMAGE_SUFFIXES", "MAX_PIXELS", "image_page_texts", "ocr_lines", "ocr_page_text", "pdf_page_images", "progress_pages", "skew_angle", "Progress"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
# A broadsheet page scanned at 400 dpi is about 80 million pixels; more is refused, not read for minutes.
MAX_PIXELS = 100_000_000
# The detector reads the page at its own resolution up to this side (longer pages are scaled down to it).
MAX_SIDE = 6000
# PDF pages without a text layer are rendered at this resolution (10-point type is about 28 px tall).
PDF_DPI = 200

_lock = threading.Lock()
_engine: Any = None


def _ocr() -> Any:
    """The OCR engine, loaded once (about 1 s; the models come with the rapidocr wheel)."""
    global _engine
    if _engine is None:
        try:
            from rapidocr_onnxruntime import RapidOCR
        except ImportError as exc:  # a dependency; OpenCV also needs libGL and GLib from the system
            hint = ("on Debian/Ubuntu: apt-get install libgl1 libglib2.0-0" if "lib" in str(exc)
                    else "pip install rapidocr-onnxruntime")
            raise ModelError(f"the OCR engine cannot start ({' '.join(str(exc).split())}); {hint}") from exc
        _engine = RapidOCR(max_side_len=MAX_SIDE, print_verbose=False)
    return _engine


# ---------------------------------------------------------------- files


def image_page_texts(path: str | Path, *, progress: Progress = False) -> list[str]:
    """One page text per image in the file (a multi-page TIFF gives several), in column order.

    Raises:
        InputError: missing, empty, truncated or not an image, too many pixels, or no text found.
    """
    p = Path(path)
    count, frames = _frames(p)
    texts = [ocr_page_text(img) for img in progress_pages(frames, count, progress, p.name)]
    if not any(t.strip() for t in texts):
        raise InputError(f"{p.name}: no text found on this image; give a scan of a printed page")
    return texts


def _frames(p: Path) -> tuple[int, Iterator[Any]]:
    """How many pages the image file holds, and the pages one at a time (RGB)."""
    from PIL import Image, UnidentifiedImageError

    if not p.is_file():
        raise InputError(f"edition file not found: {p}")
    if p.stat().st_size == 0:
        raise InputError(f"{p.name} is empty; give a scanned page image")
    unreadable = (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError)
    try:
        with warnings.catch_warnings():
            # PIL warns of "decompression bombs" from 89 million pixels; _check_size sets the limit here
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(p)
        count = getattr(img, "n_frames", 1)
    except Image.DecompressionBombError as exc:
        raise InputError(f"{p.name} has too many pixels to read; scan at 200-400 dpi") from exc
    except unreadable as exc:
        raise InputError(f"{p.name} is not a readable image (damaged or truncated?); export or scan it again") from exc

    def pages() -> Iterator[Any]:
        with img:
            for k in range(count):
                try:
                    img.seek(k)
                    _check_size(p.name, img.size)
                    frame = img.convert("RGB")
                except InputError:
                    raise
                except unreadable as exc:
                    raise InputError(f"{p.name} is not a readable image (damaged or truncated?); "
                                     "export or scan it again") from exc
                yield frame

    return count, pages()


def _check_size(name: str, size: tuple[int, int]) -> None:
    w, h = size
    if w * h > MAX_PIXELS:
        raise InputError(f"{name} is {w}x{h} pixels, more than {MAX_PIXELS // 1_000_000} million; scan at 200-400 dpi")
    if min(w, h) < 32:
        raise InputError(f"{name} is {w}x{h} pixels, too small to hold a page of text")


# How OCR progress is shown: True for a bar on stderr, or a function given (pages done, pages in all).
Progress = bool | Callable[[int, int], None]


def progress_pages(images: Iterable[Any], total: int, progress: Progress, name: str) -> Iterator[Any]:
    """The page images; after each page is OCR'd (when the next is asked for), one step of a
    progress bar on stderr (`progress` True) or a call `progress(done, total)`."""
    if not progress:
        yield from images
        return
    if callable(progress):
        done = 0
        for image in images:
            yield image
            done += 1
            progress(done, total)
        return
    from tqdm import tqdm

    yield from tqdm(images, total=total, desc=f"OCR {name}", unit="page", leave=False)


def pdf_page_images(path: str | Path, pages: list[int], *, dpi: int = PDF_DPI) -> Iterator[Any]:
    """PDF pages (0-based) rendered to images one at a time, for pages without a text layer."""
    import pypdfium2 as pdfium

    p = Path(path)
    try:
        doc = pdfium.PdfDocument(str(p))
    except pdfium.PdfiumError as exc:
        raise InputError(f"{p.name} is damaged and cannot be read as a PDF; download or export it again") from exc
    try:
        for k in pages:
            page = doc[k]
            w, h = page.get_size()
            scale = dpi / 72
            _check_size(f"{p.name} page {k + 1}", (int(w * scale), int(h * scale)))
            yield page.render(scale=scale, grayscale=True).to_pil().convert("RGB")
    finally:
        doc.close()


# ---------------------------------------------------------------- one page


def ocr_page_text(image: Any) -> str:
    """The text of one page image (PIL image or array) in reading order, shaped like OCR'd page text."""
    return page_text(ocr_lines(image))


def ocr_lines(image: Any) -> list[TextLine]:
    """The printed lines of a page image with their boxes (pixels) and type sizes."""
    import numpy as np

    arr = np.asarray(image.convert("RGB") if hasattr(image, "convert") else image)
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    arr = _deskew(arr)
    with _lock:  # one page at a time: the engine's two cores are already busy
        result, _ = _ocr()(np.ascontiguousarray(arr[:, :, ::-1]), return_word_box=True)
    ink = arr.min(axis=2) < 128
    pieces: list[list[tuple[float, float, float, float, str]]] = []
    for box, text, _score, char_boxes, chars, *_ in result or []:
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
    measured = [ln for k, ln in enumerate(lines) if k not in set(short)]
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


def skew_angle(gray: Any) -> float:
    """The angle (degrees) the lines of print slope down to the right; 0 for a straight page.

    Projection profiles: the rows of a page's ink, sheared by each candidate angle, stack into
    the sharpest peaks (largest sum of squares) at the angle of its lines. Read on a page
    scaled to at most 1,200 pixels, from -5 to 5 degrees by 0.1, then by 0.02 around the best.
    """
    import numpy as np

    step = max(1, int(np.ceil(max(gray.shape) / 1200)))
    small = gray[::step, ::step]
    ys, xs = np.nonzero(small < 128)
    if len(ys) < 100:
        return 0.0
    if len(ys) > 200_000:
        pick = np.random.default_rng(0).choice(len(ys), 200_000, replace=False)
        ys, xs = ys[pick], xs[pick]
    ys, xs = ys.astype(np.float64), xs.astype(np.float64)

    def score(deg: float) -> float:
        rows = np.round(ys - xs * np.tan(np.radians(deg))).astype(np.int64)
        counts = np.bincount(rows - rows.min())
        return float(np.dot(counts, counts))

    best = max(np.arange(-5.0, 5.001, 0.1), key=score)
    best = max(np.arange(best - 0.1, best + 0.1001, 0.02), key=score)
    return float(best)


def _deskew(arr: Any) -> Any:
    """The page turned straight where it lies skewed by 0.2 degrees or more (a scan rarely lies square)."""
    import numpy as np
    from PIL import Image

    angle = skew_angle(arr.min(axis=2))
    if abs(angle) < 0.2:
        return arr
    turned = Image.fromarray(arr).rotate(angle, resample=Image.BICUBIC, expand=True, fillcolor=(255, 255, 255))
    return np.asarray(turned)


def _characters(box: Any, text: str, char_boxes: Any, chars: Any) -> list[tuple[float, float, float, float, str]]:
    """(x0, top, x1, bottom, text) per character; the line's box where the engine gave none."""
    xs = [pt[0] for pt in box]
    ys = [pt[1] for pt in box]
    top, bottom = min(ys), max(ys)
    if not chars or not char_boxes or len(char_boxes) != len(chars) or "".join(chars).replace(" ", "") != text.replace(" ", ""):
        return [(min(xs), top, max(xs), bottom, text)]
    out = []
    for cb, ch in zip(char_boxes, chars):
        cx = [pt[0] for pt in cb]
        out.append((float(min(cx)), top, float(max(cx)), bottom, ch))
    return out


def _units(text: str) -> float:
    """A line's width in em: full-width characters 1, others about half."""
    return sum(1.0 if wide(c) else 0.5 for c in text)


def _pitch_per_height(pieces: list[list[tuple[float, float, float, float, str]]]) -> float:
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


def _split_at_gutters(chars: list[tuple[float, float, float, float, str]],
                      starts: list[float]) -> list[list[tuple[float, float, float, float, str]]]:
    """Part a detected line where the detector joined lines of neighbouring columns: at a gap
    wider than an em after which at least three other lines of the page start (a column's
    left edge). A wide space inside one line (between the roles of a byline) is kept."""
    import bisect

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


def _em(chars: list[tuple[float, float, float, float, str]]) -> float:
    """The type size of a run of characters: the median pitch of its full-width characters, else its height."""
    pitches = [c[2] - c[0] for c in chars if wide(c[4])]
    height = chars[0][3] - chars[0][1]
    if len(pitches) >= 2:
        return max(statistics.median(pitches), 0.5 * height)
    return 0.75 * height


def _line(run: list[tuple[float, float, float, float, str]], pitch_per_height: float, ink: Any) -> TextLine | None:
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


def _space_positions(run: list[tuple[float, float, float, float, str]], size: float, ink: Any) -> set[int]:
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
    import unicodedata

    return any(unicodedata.category(ch).startswith(("P", "S")) for ch in text)
