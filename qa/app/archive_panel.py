"""The chat UI's archive front page: which editions are in, and the "Add edition" panel.

The editions listing is computed from the served version of the index and refreshed when a
newer version is swapped in (`front_page`, cached per version). The add panel takes uploaded
files only: a file's bytes are read from Gradio's upload folder (any other path is refused),
capped at MAX_UPLOAD_BYTES, and written under a fresh temporary folder with a name this module
makes (the uploaded name is used only for its suffix and its date/page pattern, sanitized), and
that copy is added with `qa.store.archive.add_editions` to the served index: a folder, whose
LiveIndex then swaps the new version in, or a Milvus collection, which the served MilvusIndex
reads as soon as the batch is published. Either way it is answerable without a restart.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import tempfile
import threading
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qa.app import render
from qa.errors import InputError, QAError
from qa.store.archive import EditionRow
from qa.store.live import LiveIndex, snapshot

__all__ = ["MAX_UPLOAD_BYTES", "MAX_UPLOAD_FILES", "UPLOAD_SUFFIXES", "FrontPage", "add_uploads", "build_add_panel",
           "can_add", "editions_of", "front_page", "stage_uploads", "upload_root"]

log = logging.getLogger(__name__)

MAX_UPLOAD_BYTES = 20 * 1024 * 1024  # per file; also Gradio's max_file_size for the upload route
MAX_UPLOAD_FILES = 50  # per batch
UPLOAD_SUFFIXES = (".txt", ".jsonl", ".pdf", ".png", ".jpg", ".jpeg", ".tif", ".tiff")
MAX_ROWS = 60  # editions listed on the front page (newest first); the rest are counted
MAX_ITEMS = 200  # parsed items listed after an add
_UNSAFE = re.compile(r"[^\w.\-]+")


@dataclass(frozen=True)
class FrontPage:
    """What the front page shows for one version of the index."""

    key: tuple
    rows: tuple[EditionRow, ...]
    pairs: tuple[tuple[str, int], ...]  # every (date, page) held

    @property
    def dates(self) -> list[str]:
        return sorted({d for d, _ in self.pairs if d})

    @property
    def pages(self) -> list[int]:
        return sorted({p for _, p in self.pairs if p})

    @property
    def several(self) -> bool:
        return len(self.pairs) > 1

    def header_html(self) -> str:
        rows = self.rows
        articles = sum(r.articles for r in rows)
        if not rows:
            where = "the edition"
        elif len(rows) == 1:
            pages = ", ".join(map(str, rows[0].pages))
            where = f"{rows[0].date or 'undated'} page{'s' if len(rows[0].pages) > 1 else ''} {pages}"
        else:
            dated = [r.date for r in rows if r.date]
            span = f", {dated[0]} to {dated[-1]}" if dated else ""
            where = f"{len(rows)} editions{span}, {len(self.pairs)} pages"
        return (f'<h2 style="margin:0">edition-qa</h2><p style="margin:0.2em 0">Ask about '
                f'{render.escape(where)} ({articles} articles), in Chinese or English. Answers are '
                f'quoted from the paper with the key span <mark>marked</mark>.</p>')

    def archive_html(self) -> str:
        if not self.rows:
            return '<p class="qa-note">No editions in the index yet.</p>'
        shown = list(reversed(self.rows))[:MAX_ROWS]
        body = "".join(
            f"<tr><td>{render.escape(r.date or 'undated')}</td><td>{render.escape(_page_list(r.pages))}</td>"
            f"<td>{r.articles}</td><td>{r.passages}</td></tr>" for r in shown)
        more = (f'<p class="qa-note">and {len(self.rows) - len(shown)} earlier editions</p>'
                if len(self.rows) > len(shown) else "")
        return ('<table class="qa-hits qa-editions"><tr><th>date</th><th>pages</th><th>articles</th>'
                f"<th>passages</th></tr>{body}</table>{more}")


def _page_list(pages: Sequence[int]) -> str:
    return ", ".join(str(p) for p in pages)


def editions_of(index: Any) -> list[tuple[str, int]]:
    """The (date, page) pairs the index holds, sorted."""
    try:
        return sorted({(a.date, int(a.page)) for a in index.articles()})
    except Exception:  # an index without article listing: no filters, not a crash
        log.exception("could not list the editions of the index")
        return []


# The last front page and a weak reference to the version it was computed from: an id() alone
# could be reused by a later object, and a strong reference would keep an old version open.
_cache: dict[str, tuple[weakref.ref, FrontPage]] = {}
_cache_lock = threading.Lock()


def _version_key(index: Any) -> tuple:
    if _milvus_location(index) is not None:  # one object serves every version: ask the collection
        from qa.store.milvus_conn import GENERATION

        try:
            return (id(index), index.conn.properties().get(GENERATION))
        except Exception:  # the server is away: no cached listing, _rows reports it
            return (id(index), None)
    manifest = getattr(index, "manifest", None)
    if isinstance(manifest, dict):
        return (id(index), manifest.get("generation"), manifest.get("built"), manifest.get("corpus_sha256"))
    return (id(index),)


def _rows(index: Any) -> tuple[list[EditionRow], list[tuple[str, int]]]:
    store = getattr(index, "store", None)
    if store is not None and hasattr(store, "edition_counts"):
        counts = store.edition_counts()
        by_date: dict[str, list[Any]] = {}
        for e in store.editions():
            by_date.setdefault(e.date, []).append(e)
        rows = [EditionRow(d, tuple(e.page for e in es),
                           sum(counts.get((d, e.page), (0, 0))[0] for e in es),
                           sum(counts.get((d, e.page), (0, 0))[1] for e in es),
                           max(e.added for e in es)) for d, es in sorted(by_date.items())]
        return rows, sorted(counts)
    pairs = editions_of(index)  # an index object without a store (tests, stand-ins)
    articles = list(getattr(index, "articles", list)())
    rows = [EditionRow(d, tuple(p for dd, p in pairs if dd == d),
                       sum(1 for a in articles if a.date == d), 0, "")
            for d in sorted({d for d, _ in pairs})]
    return rows, pairs


def front_page(index: Any) -> FrontPage:
    """The editions of the version of `index` being served now (cached per version)."""
    current = snapshot(index)  # a LiveIndex notices a newer version here and loads it
    key = _version_key(current)
    with _cache_lock:
        ref, page = _cache.get("last", (None, None))
        if page is not None and ref is not None and ref() is current and page.key == key:
            return page
    try:
        rows, pairs = _rows(current)
    except Exception:
        log.exception("could not list the editions of the index")
        rows, pairs = [], []
    page = FrontPage(key, tuple(rows), tuple(pairs))
    try:
        with _cache_lock:
            _cache["last"] = (weakref.ref(current), page)
    except TypeError:  # an object without weak references is not cached
        pass
    return page


# ---- adding uploaded editions ---------------------------------------------------------


def upload_root() -> Path:
    """Where Gradio keeps uploaded files (GRADIO_TEMP_DIR, else <tmp>/gradio)."""
    return Path(os.environ.get("GRADIO_TEMP_DIR") or Path(tempfile.gettempdir()) / "gradio").resolve()


def _milvus_location(index: Any) -> Any:
    """The Milvus location a served MilvusIndex reads, else None."""
    where = getattr(index, "location", None)
    return where if getattr(where, "is_milvus", False) else None


def can_add(index: Any, *, read_only: bool) -> bool:
    """Whether the UI may add editions: not read-only, and serving an index folder (a LiveIndex)
    or a Milvus collection (which readers see change as soon as a batch is published)."""
    return not read_only and (isinstance(index, LiveIndex) or _milvus_location(index) is not None)


def _raw_path(raw: Any) -> str:
    """The path Gradio gave for an upload: a string (type="filepath") or a file wrapper's .name."""
    return os.fspath(raw) if isinstance(raw, (str, os.PathLike)) else str(getattr(raw, "name", ""))


def _shown_name(raw: Any) -> str:
    name = Path(_raw_path(raw)).name
    name = _UNSAFE.sub("_", name).strip("._") or "file"
    return name if len(name) <= 80 else name[:60] + "…" + name[-19:]


def _check_date(value: str | None) -> str | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value).isoformat()
    except ValueError:
        raise InputError(f"date must be YYYY-MM-DD, not {value[:40]!r}") from None


def stage_uploads(files: Sequence[Any] | None, dest: Path, *, date: str | None = None,
                  page: int | None = None, root: Path | None = None,
                  ) -> tuple[list[tuple[Path, str]], list[str]]:
    """Copies of uploaded files under `dest`, named by this module; (copy, shown name) pairs and
    one-line errors. Only regular files inside `root` (Gradio's upload folder) are read."""
    root = (root or upload_root()).resolve()
    files = list(files or [])
    if len(files) > MAX_UPLOAD_FILES:
        raise InputError(f"at most {MAX_UPLOAD_FILES} files at a time ({len(files)} given)")
    if page is not None and len(files) > 1:
        raise InputError("a page number applies to one file at a time; leave it empty, or name the "
                         "files like edition-2021-03-05-p02.txt")
    staged: list[tuple[Path, str]] = []
    errors: list[str] = []
    for i, raw in enumerate(files):
        shown = _shown_name(raw)
        try:
            src = Path(_raw_path(raw)).resolve()
            if not src.is_relative_to(root) or not src.is_file():
                raise InputError("not an uploaded file")
            stem, suffix = os.path.splitext(shown)
            if suffix.lower() not in UPLOAD_SUFFIXES:
                raise InputError(f"only {', '.join(UPLOAD_SUFFIXES)} files can be added")
            with open(src, "rb") as fh:
                data = fh.read(MAX_UPLOAD_BYTES + 1)
            if len(data) > MAX_UPLOAD_BYTES:
                raise InputError(f"over the {MAX_UPLOAD_BYTES // (1024 * 1024)} MB limit for one file")
            # Date and page go first in the name, where the edition loader's name pattern finds them.
            name = "upload-" + (f"{date}-" if date else "") + (f"p{page:02d}-" if page is not None else "")
            target = dest / f"{i:03d}" / (name + stem[:80] + suffix.lower())
            target.parent.mkdir(parents=True)
            target.write_bytes(data)
            staged.append((target, shown))
        except (OSError, QAError) as exc:
            errors.append(f"{shown}: {exc if isinstance(exc, QAError) else 'could not be read'}")
    return staged, errors


def _one_line(text: str, staged: Path, shown: str, *, limit: int = 300) -> str:
    text = " ".join(str(text).replace(str(staged), shown).replace(staged.name, shown).split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def add_uploads(index: Any, files: Sequence[Any] | None, *, date: str | None = None, page: Any = None,
                read_only: bool = False, root: Path | None = None,
                progress: Callable[[float, str], None] | None = None) -> str:
    """Add uploaded edition files to the served index (folder or Milvus); the outcome as HTML (a line per
    file, errors included, then the parsed items). QAError when adding is not allowed."""
    from qa.store.archive import add_editions

    if not can_add(index, read_only=read_only):
        raise QAError("This server is read-only: editions cannot be added here.")
    if not files:
        raise InputError("choose one or more edition files (.txt, .jsonl, .pdf or page scans) first")
    if page not in (None, ""):
        try:
            page = int(float(page))
        except (TypeError, ValueError):
            raise InputError("page must be a whole number") from None
        if page < 0 or page > 999:
            raise InputError("page must be a whole number from 0 to 999")
    else:
        page = None
    date = _check_date(date)
    step = progress or (lambda fraction, desc: None)
    with tempfile.TemporaryDirectory(prefix="edition-qa-upload-") as tmp:
        step(0.0, "reading the uploads")
        staged, errors = stage_uploads(files, Path(tmp), date=date, page=page, root=root)
        shown = dict(staged)
        lines: list[str] = [f'<p class="qa-add-error">{render.escape(e)}</p>' for e in errors]
        done: list[Any] = []

        def report(outcome: Any) -> None:
            done.append(outcome)
            step(len(done) / max(len(staged), 1) * 0.9, f"{len(done)} of {len(staged)} files read")

        def page_read(path: Path, pages_done: int, pages: int) -> None:  # a scan's pages, as OCR reads them
            name = shown.get(path, path.name)
            step((len(done) + pages_done / max(pages, 1)) / max(len(staged), 1) * 0.9,
                 f"OCR of {name}: page {pages_done} of {pages}")

        if staged:
            step(0.05, "parsing and embedding")
            target = index.folder if isinstance(index, LiveIndex) else _milvus_location(index)
            result = add_editions(target, [p for p, _ in staged], report=report, on_page=page_read)
            if result.saved and isinstance(index, LiveIndex):
                step(0.95, "swapping in the new version")
                index.refresh()  # answerable as soon as this reply shows
            for o in result.outcomes:
                path = Path(o.path)
                name = shown.get(path, path.name)
                if o.status == "failed":
                    lines.append(f'<p class="qa-add-error">{render.escape(_one_line(o.error, path, name))}</p>')
                else:
                    pages = ", ".join(f"{d or 'undated'} p.{n}" for d, n in o.pages)
                    what = "" if o.status == "unchanged" else f": {o.articles} items, {o.passages} passages"
                    lines.append(f'<p class="qa-add-ok">{o.status} {render.escape(pages)}{what} '
                                 f'<span class="qa-meta">({render.escape(name)})</span></p>')
        step(1.0, "done")
        return "".join(lines) + _items_html(index, [o for o in (result.outcomes if staged else [])
                                                    if o.status != "failed"])


def _items_html(index: Any, outcomes: Sequence[Any]) -> str:
    """The parsed items of the pages just added, as the served version holds them."""
    current = snapshot(index)
    rows: list[str] = []
    for o in outcomes:
        for d, n in o.pages:
            for a in current.store.articles(date=d, page=n):
                if len(rows) == MAX_ITEMS:
                    break
                passages = len(current.store.passage_ids(article_id=a.id))
                rows.append(f"<tr><td>{render.escape(a.date or 'undated')}</td><td>{a.page}</td>"
                            f"<td>{render.escape(a.kind)}</td><td>{render.escape(a.title)}</td>"
                            f"<td>{passages}</td></tr>")
    if not rows:
        return ""
    return ('<table class="qa-hits qa-items"><tr><th>date</th><th>page</th><th>kind</th><th>headline</th>'
            f'<th>passages</th></tr>{"".join(rows)}</table>')


def build_add_panel(index: Any) -> Any:
    """The "Add edition" accordion (inside a Blocks context); returns its click event, so the
    caller can chain a refresh of the front page."""
    import gradio as gr

    def on_add(files: list[str] | None, date: str, page: Any,
               progress: gr.Progress = gr.Progress()) -> str:  # noqa: B008 (how Gradio injects progress)
        """Add uploaded edition files (.txt, .jsonl, .pdf, page scans) to the served index; the outcome as HTML."""
        try:
            return add_uploads(index, files, date=date, page=page,
                               progress=lambda fraction, desc: progress(fraction, desc=desc))
        except QAError as exc:
            return f'<p class="qa-add-error">{render.escape(" ".join(str(exc).split()))}</p>'
        except Exception:
            log.exception("adding uploaded editions failed")
            return '<p class="qa-add-error">Adding failed; the error was logged. Nothing was changed.</p>'

    mb = MAX_UPLOAD_BYTES // (1024 * 1024)
    with gr.Accordion("Add edition", open=False, elem_id="qa-add"):
        gr.Markdown(f"Upload OCR pages (.txt), articles (.jsonl), e-paper pages (.pdf) or scanned pages "
                    f"(.png, .jpg, .tif; read by OCR, about 15 s a page), up to {mb} MB "
                    "each. Date and page come from the fields below, else from names like "
                    "`edition-2021-03-05-p02.txt`.")
        files = gr.File(label="Edition files", file_count="multiple", file_types=list(UPLOAD_SUFFIXES),
                        type="filepath", elem_id="qa-add-files")
        with gr.Row():
            date = gr.Textbox(label="Date (YYYY-MM-DD, optional)", max_lines=1, elem_id="qa-add-date")
            page = gr.Textbox(label="Page (optional, one file only)", max_lines=1, elem_id="qa-add-page")
            button = gr.Button("Add to the archive", variant="primary", elem_id="qa-add-button")
        result = gr.HTML("", elem_id="qa-add-result")
    return button.click(on_add, [files, date, page], [result], api_name="add_editions",
                        concurrency_id="add", concurrency_limit=1)
