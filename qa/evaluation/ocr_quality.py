"""How well scanned pages are read: character error rate, items found, answers over the OCR'd index.

`bench_ocr` lays the bundled sample's items out as a newspaper page (`qa.evaluation.pageimage`)
and reads four scans of it through the same path as `edition-qa add page.png`: clean; degraded
(turned 1.5 degrees, blurred, speckled, JPEG); set smaller, as 10-point type scanned at 150 dpi,
and degraded; with column rules and a halftone photo, turned 2.5 degrees, JPEG at quality 40.
Each is scored by:
  - character error rate (CER) of the page text against the text printed, in reading order,
    whitespace ignored: Levenshtein distance over the printed text's length. A column read out
    of order costs its length twice, so the figure covers layout as well as recognition;
  - the items parsed from the OCR'd page against those parsed from the text page (kind,
    headline, byline) and each item's body CER;
  - the bundled question set over an index of the clean and degraded pages against one of the
    text page;
  - optionally the same page read by Tesseract (chi_sim), through the same layout, for the
    choice of engine.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from qa.errors import InputError

__all__ = ["bench_ocr", "cer", "edit_distance", "format_ocr_report"]

_SPACE = re.compile(r"\s+")


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (insertions, deletions, substitutions each 1), a row at a time in numpy."""
    if not a or not b:
        return len(a) + len(b)
    codes = np.frombuffer(b.encode("utf-32-le"), dtype=np.uint32)
    steps = np.arange(len(b) + 1)
    row = steps.copy()
    for i, ch in enumerate(a, 1):
        cost = (codes != ord(ch)).astype(np.int64)
        cur = np.empty_like(row)
        cur[0] = i
        cur[1:] = np.minimum(row[1:] + 1, row[:-1] + cost)
        # insertions: cur[j] = min(cur[j], cur[j-1] + 1), a running minimum
        row = np.minimum.accumulate(cur - steps) + steps
    return int(row[-1])


def cer(reference: str, hypothesis: str) -> float:
    """Character error rate of `hypothesis` against `reference`, whitespace ignored."""
    ref, hyp = _SPACE.sub("", reference), _SPACE.sub("", hypothesis)
    if not ref:
        raise InputError("the reference text is empty")
    return edit_distance(ref, hyp) / len(ref)


def bench_ocr(*, questions: bool = True, tesseract: bool = False, save: str | Path | None = None,
              progress: bool = True) -> dict[str, Any]:
    """Render the sample page clean and degraded, OCR both, and score them (see the module doc)."""
    from qa.editions.ocr import ocr_page_text
    from qa.editions.parse import load_edition, parse_page
    from qa.evaluation.pageimage import degrade, render_page
    from qa.paths import sample_editions

    edition = sample_editions()[0]
    articles = load_edition(edition.path)
    page = render_page(articles)
    small = render_page(articles, body_px=21)
    printed = render_page(articles, print_like=True)
    # name -> (image, the text printed on it)
    images = {"clean": (page.image, page.text), "degraded": (degrade(page.image), page.text),
              "150dpi": (degrade(small.image, angle=-2.0), small.text),
              "rules+photo": (degrade(printed.image, angle=2.5, jpeg_quality=40), printed.text)}
    folder = Path(save) if save else None
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        for name, (image, text) in images.items():
            image.save(folder / f"edition-{edition.date}-p{edition.page:02d}-{name}.png")
            (folder / f"printed-{name}.txt").write_text(text + "\n", encoding="utf-8")
    report: dict[str, Any] = {"page_pixels": list(page.image.size), "printed_chars": len(_SPACE.sub("", page.text)),
                              "items_text": len(articles), "pages": {}}
    texts: dict[str, str] = {}
    for name, (image, printed_text) in images.items():
        t0 = time.perf_counter()
        text = ocr_page_text(image)
        seconds = time.perf_counter() - t0
        if name in ("clean", "degraded"):
            texts[name] = text
        items = parse_page(text, date=edition.date, page=edition.page)
        report["pages"][name] = {"pixels": list(image.size), "seconds": round(seconds, 2),
                                 "cer": round(cer(printed_text, text), 4), **_items_report(articles, items)}
        if progress:
            print(f"{name}: {seconds:.1f} s, CER {report['pages'][name]['cer']:.4f}")
    if tesseract:
        report["tesseract"] = {name: _tesseract(*images[name]) for name in ("clean", "degraded")}
    if questions:
        report["questions"] = _questions(articles, texts, edition, progress)
    return report


def _items_report(expected: list[Any], got: list[Any]) -> dict[str, Any]:
    def key(a: Any) -> tuple:
        return a.kind, _SPACE.sub("", a.headline), tuple(_SPACE.sub("", b) for b in a.byline)

    same = [key(a) == key(b) for a, b in zip(expected, got)]
    bodies = [cer(a.body, b.body) for a, b in zip(expected, got) if a.body.strip()]
    return {"items": len(got), "items_same": sum(same),
            "headlines_same": sum(_SPACE.sub("", a.headline) == _SPACE.sub("", b.headline) for a, b in zip(expected, got)),
            "body_cer_max": round(max(bodies), 4) if bodies else None,
            "differences": [f"{key(a)} != {key(b)}" for a, b, ok in zip(expected, got, same) if not ok]}


def _questions(articles: list[Any], texts: dict[str, str], edition: Any, progress: bool) -> dict[str, Any]:
    """The bundled questions over an index of the text page and of each OCR'd page text."""
    from qa.editions.parse import parse_page
    from qa.evaluation.evaluate import evaluate
    from qa.evaluation.questions import load_questions
    from qa.models.embed import get_embedder
    from qa.paths import sample_questions
    from qa.store.index import DEFAULT_MODEL, Index

    qs = load_questions(sample_questions())
    get_embedder(DEFAULT_MODEL)
    out: dict[str, Any] = {}
    pages = {"text": articles, **{name: parse_page(t, date=edition.date, page=edition.page) for name, t in texts.items()}}
    for name, items in pages.items():
        index = Index.from_articles(items, model=DEFAULT_MODEL, progress=False)
        result = evaluate(qs, index=index, progress=False)
        zh = result.by_lang.get("zh", result.metrics)
        out[name] = {"article_hit@1": round(result.metrics["article_hit@1"], 3),
                     "exact": round(result.metrics["short_answer_exact"], 3),
                     "f1": round(result.metrics["short_answer_f1"], 3),
                     "zh_exact": round(zh["short_answer_exact"], 3),
                     "no_answer_accuracy": round(result.metrics["no_answer_accuracy"], 3)}
        if progress:
            print(f"questions over the {name} index: exact {out[name]['exact']:.3f}, F1 {out[name]['f1']:.3f}")
    return out


def _tesseract(image: Any, printed: str) -> dict[str, Any]:
    """The page read by Tesseract's chi_sim model (tsv lines), through the same layout; None when not installed."""
    from qa.editions.pagelayout import TextLine, page_text

    if shutil.which("tesseract") is None:
        return {"error": "tesseract is not installed (Debian: apt-get install tesseract-ocr tesseract-ocr-chi-sim)"}
    with tempfile.TemporaryDirectory() as tmp:
        png = Path(tmp) / "page.png"
        image.save(png)
        t0 = time.perf_counter()
        done = subprocess.run(["tesseract", str(png), str(Path(tmp) / "out"), "-l", "chi_sim", "tsv"],
                              capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - t0
        if done.returncode != 0:
            return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "tesseract failed"}
        rows = [r.split("\t") for r in (Path(tmp) / "out.tsv").read_text(encoding="utf-8").splitlines()[1:]]
    words: dict[tuple[str, str, str], list[tuple[int, int, int, int, str]]] = {}
    for r in rows:
        if len(r) >= 12 and r[0] == "5" and r[11].strip():
            words.setdefault((r[2], r[3], r[4]), []).append((*map(int, r[6:10]), r[11]))
    lines = []
    for ws in words.values():
        x0, top = min(w[0] for w in ws), min(w[1] for w in ws)
        x1, bottom = max(w[0] + w[2] for w in ws), max(w[1] + w[3] for w in ws)
        lines.append(TextLine(x0, top, x1, bottom, bottom - top, "".join(w[4] for w in ws)))
    return {"seconds": round(seconds, 2), "cer": round(cer(printed, page_text(lines)), 4)}


def format_ocr_report(report: dict[str, Any]) -> str:
    w, h = report["page_pixels"]
    lines = [f"page {w}x{h} px, {report['printed_chars']} characters printed, {report['items_text']} items",
             f"{'page':<12} {'pixels':>10} {'seconds':>8} {'CER':>7} {'items':>6} {'same':>5} {'headlines':>9} "
             f"{'body CER max':>12}"]
    for name, r in report["pages"].items():
        body = f"{r['body_cer_max']:.4f}" if r["body_cer_max"] is not None else "-"
        size = "x".join(map(str, r["pixels"]))
        lines.append(f"{name:<12} {size:>10} {r['seconds']:>8.1f} {r['cer']:>7.4f} {r['items']:>6} "
                     f"{r['items_same']:>5} {r['headlines_same']:>9} {body:>12}")
        lines += [f"  differs: {d}" for d in r["differences"]]
    for name, r in report.get("tesseract", {}).items():
        lines.append(f"tesseract {name}: " + (r["error"] if "error" in r else f"{r['seconds']:.1f} s, CER {r['cer']:.4f}"))
    if "questions" in report:
        lines.append(f"{'index':<10} {'exact':>6} {'F1':>6} {'zh exact':>8} {'article@1':>9} {'no-answer acc':>13}")
        for name, m in report["questions"].items():
            lines.append(f"{name:<10} {m['exact']:>6.3f} {m['f1']:>6.3f} {m['zh_exact']:>8.3f} "
                         f"{m['article_hit@1']:>9.3f} {m['no_answer_accuracy']:>13.3f}")
    return "\n".join(lines)
