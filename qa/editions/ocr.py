"""OCR of scanned pages (PNG, JPEG, TIFF, image-only PDF pages) into the page text the parser reads.

The engine is RapidOCR on ONNX Runtime with the PP-OCRv4 Chinese/English models its wheel
ships (Apache-2.0; chosen over Tesseract's chi_sim by character error rate and speed on two
cores, docs/ocr.md). It finds text lines and reads them, with a box per character.

A page is straightened first (`skew_angle`); its lines become `qa.editions.pagelayout.TextLine`s
(`qa.editions.ocrlines`), which `qa.editions.pagelayout` reads in column order, as for a PDF's
text layer.

Bad images (empty, truncated, not an image, too large) raise one-line `InputError`s.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from qa.editions.ocrlines import text_lines
from qa.editions.pagelayout import TextLine, page_text
from qa.errors import InputError, ModelError

__all__ = ["IMAGE_SUFFIXES", "MAX_PIXELS", "Progress", "image_page_texts", "ocr_lines", "ocr_page_text",
           "pdf_page_images", "progress_pages", "skew_angle"]

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
                    else "pip install rapidocr-onnxruntime (Python 3.10 to 3.12)")
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
    return text_lines(result or [], arr.min(axis=2) < 128)


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
