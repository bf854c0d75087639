"""An index as an archive of editions: add files and folders, remove pages, list them.

The index is a folder or a Milvus URI (`qa.store.location`); the archive logic is one code
path, and only what opening and saving does differs (`_IndexWriter`, `_MilvusWriter`).

A folder: every change is load -> modify -> save under the folder's writer lock
(`writer_lock`), so two writers in different processes take turns and neither loses the
other's editions. A batch is published by one atomic save at its end, a commit in place
(`qa.store.versions`): readers see all of it or none of it, and a writer killed at any point
leaves the previous version in place (its leftovers are removed by the next writer, `clean_stale`).

Milvus: the batch's pages are embedded and staged, then published in one step at its end
(`MilvusIndex.publish`: hidden rows shown by one property write); a new collection is built
in memory and written as `edition-qa build` writes one. One writer at a time is assumed.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from qa.errors import InputError, QAError
from qa.store.folder import checkpoint, clean_stale, writer_lock
from qa.store.index import DEFAULT_MODEL, MANIFEST, STORE, Index
from qa.store.versions import repair_manifest
from qa.store.location import Location, parse_location

__all__ = ["AddOutcome", "AddResult", "EditionRow", "add_editions", "edition_files",
           "list_editions", "remove_editions"]


@dataclass(frozen=True)
class AddOutcome:
    """What happened to one file: "added", "replaced", "unchanged" or "failed" (with `error`)."""

    path: str
    status: str
    pages: tuple[tuple[str, int], ...] = ()
    articles: int = 0
    passages: int = 0
    embedded: int = 0
    error: str = ""


@dataclass(frozen=True)
class AddResult:
    """A batch: one outcome per file, whether a new version was saved, and the index's counts."""

    outcomes: list[AddOutcome] = field(default_factory=list)
    saved: bool = False
    counts: dict[str, int] = field(default_factory=dict)
    generation: int = 0

    @property
    def failed(self) -> list[AddOutcome]:
        return [o for o in self.outcomes if o.status == "failed"]


@dataclass(frozen=True)
class EditionRow:
    """One edition date of an index: its pages and how much they hold."""

    date: str
    pages: tuple[int, ...]
    articles: int
    passages: int
    added: str  # the latest time one of its pages was added (ISO UTC)


def edition_files(paths: Iterable[str | os.PathLike]) -> list[tuple[Path, str]]:
    """Files named or found (recursively, by suffix) under folders, each with an error ("" if none).

    A named file is kept whatever its type (the parser then says what is wrong with it);
    in folders only edition files (`qa.editions.parse.EDITION_SUFFIXES`) are picked up.
    """
    from qa.editions.parse import EDITION_SUFFIXES

    found: list[tuple[Path, str]] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file()
                           and p.suffix.lower() in EDITION_SUFFIXES
                           and not any(part.startswith(".") for part in p.relative_to(path).parts))
            found += [(p, "") for p in files]
            if not files:
                found.append((path, f"{path}: no edition files ({', '.join(EDITION_SUFFIXES)}) in this folder"))
        elif path.exists():
            found.append((path, ""))
        else:
            found.append((path, f"edition file not found: {path}"))
    return found


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text if isinstance(exc, QAError) else f"{type(exc).__name__}: {text}"


class _IndexWriter:
    """An in-memory Index being changed: an index folder, or a new Milvus collection (written as
    `edition-qa build` writes one when saved)."""

    def __init__(self, loc: Location, model: Any, *, create: bool) -> None:
        self.loc = loc
        folder = Path(loc.target)
        if create and (loc.is_milvus or not (folder / MANIFEST).exists()):
            self.index: Any = Index(model=model if model is not None else DEFAULT_MODEL)
        else:
            self.index = Index.load(folder, model=model)  # "No index at ..." when missing
            repair_manifest(folder, self.index.manifest)  # after a writer killed past its commit point

    def add(self, articles: Sequence[Any], *, progress: bool, source: str, sha256: str) -> tuple[int, int]:
        """Add one file's articles; (passages embedded, passages now on their pages)."""
        embedded = self.index.add_articles(articles, progress=progress, source=source, sha256=sha256)
        pages = {(a.date, a.page) for a in articles}
        return embedded, sum(len(self.index.store.passage_ids(date=d, page=n)) for d, n in pages)

    def current(self) -> tuple[dict[str, int], int]:
        """The index's counts and version (the folder's generation; 0: never saved)."""
        return dict(self.index.manifest.get("counts", {})), int(self.index.manifest.get("generation", 0))

    def save(self) -> tuple[dict[str, int], int]:
        """Publish the changes at once; the index's counts and version after it."""
        if self.loc.is_milvus:
            from qa.store.location import write_index

            write_index(self.index, self.loc)
            return self.current()[0], 1  # a new collection is version 1
        self.index.save(Path(self.loc.target))
        return self.current()


class _MilvusWriter(_IndexWriter):
    """An existing Milvus index: pages staged while the batch runs, published in one step."""

    def __init__(self, loc: Location, model: Any) -> None:
        from qa.store.milvus import MilvusIndex

        self.loc = loc
        self.index = MilvusIndex.open(loc, model=model)  # "No index at ..." when missing

    def add(self, articles: Sequence[Any], *, progress: bool, source: str, sha256: str) -> tuple[int, int]:
        embedded = self.index.stage_articles(articles, progress=progress, source=source, sha256=sha256)
        pages = {(a.date, a.page) for a in articles}
        return embedded, sum(self.index.staged_passages(d, n) for d, n in pages)

    def current(self) -> tuple[dict[str, int], int]:
        return self.index.store.counts(), self.index.generation

    def save(self) -> tuple[dict[str, int], int]:
        self.index.publish()
        return self.current()


@contextlib.contextmanager
def _writer(location: Any, model: Any = None, *, create: bool = False) -> Iterator[_IndexWriter]:
    """The index at `location` opened for a change (a new one when missing and `create`), under
    a folder's writer lock; closed at the end."""
    loc = parse_location(location)
    if loc.is_milvus:
        from qa.store.milvus_conn import Connection

        new = create and not Connection(loc).call("has_collection", loc.collection)
        writer = _IndexWriter(loc, model, create=True) if new else _MilvusWriter(loc, model)
        try:
            yield writer
        finally:
            writer.index.close()
        return
    with writer_lock(Path(loc.target)):
        clean_stale(Path(loc.target))
        writer = _IndexWriter(loc, model, create=create)
        try:
            yield writer
        finally:
            writer.index.close()


def add_editions(location: str | os.PathLike | Location, paths: Iterable[str | os.PathLike], *,
                 model: Any = None, date: str | None = None, page: int | None = None,
                 progress: bool = False,
                 report: Callable[[AddOutcome], None] | None = None,
                 on_page: Callable[[Path, int, int], None] | None = None) -> AddResult:
    """Add edition files and folders to the index at `location` (created when missing).

    A page whose file has the same sha256 as the stored one is left as it is ("unchanged");
    a changed page replaces its old version. A file that fails gets an outcome with its error
    and the rest of the batch is still added. The batch is saved once, atomically, at the end
    (nothing is saved when nothing changed).

    Args:
        location: the index folder or Milvus URI.
        paths: edition files and folders (searched recursively).
        model: for a new index, the model to build it with (default multilingual-e5-small);
            for an existing one, the model it must have been built with (None: any).
        date, page: the edition of a single file (default: sidecar JSON, then the file name).
        progress: show progress bars while OCR-ing scanned pages and embedding.
        report: called with each file's outcome as soon as it is known.
        on_page: called with (file, pages done, pages in all) after each scanned page is OCR'd.
    Returns:
        The outcomes in file order, whether a new version was saved, and the index's counts.
    """
    from qa.editions.parse import load_edition

    files = edition_files(paths)
    if (date is not None or page is not None) and len(files) > 1:
        raise InputError("--date and --page apply to a single edition file; give one file at a time")
    outcomes: list[AddOutcome] = []
    with _writer(location, model, create=True) as writer:
        stored = {(e.date, e.page): e.sha256 for e in writer.index.store.editions()}
        changed = False
        for path, error in files:
            if not error:
                try:
                    pages_read = partial(on_page, path) if on_page is not None else progress
                    articles = load_edition(path, date=date, page=page, progress=pages_read)
                    digest = hashlib.sha256(path.read_bytes()).hexdigest()
                    pages = tuple(sorted({(a.date, a.page) for a in articles}))
                    if not pages:
                        raise InputError(f"{path.name}: no articles found in this file")
                    if all(stored.get(p) == digest for p in pages):
                        outcome = AddOutcome(str(path), "unchanged", pages, len(articles))
                    else:
                        embedded, passages = writer.add(articles, progress=progress, source=path.name,
                                                        sha256=digest)
                        status = "replaced" if any(p in stored for p in pages) else "added"
                        outcome = AddOutcome(str(path), status, pages, len(articles), passages, embedded)
                        stored.update({p: digest for p in pages})
                        changed = True
                        checkpoint("file-added")
                except Exception as exc:  # one bad file must not sink the batch
                    error = _one_line(exc)
                    error = error if path.name in error else f"{path}: {error}"
            if error:
                outcome = AddOutcome(str(path), "failed", error=error)
            outcomes.append(outcome)
            if report is not None:
                report(outcome)
        counts, version = writer.save() if changed else writer.current()
        return AddResult(outcomes, changed, counts, version)


def remove_editions(location: str | os.PathLike | Location, date: str, page: int | None = None) -> int:
    """Remove an edition date (all its pages, or one) from the index at `location` (a folder or
    Milvus URI); returns the number of pages removed. InputError when it holds no such edition."""
    shown = parse_location(location).display
    with _writer(location) as writer:
        pages = [e for e in writer.index.store.editions() if e.date == date and page in (None, e.page)]
        if not pages:
            which = f"{date} page {page}" if page is not None else date
            raise InputError(f"no edition {which} in {shown}; "
                             f"`edition-qa editions --index '{shown}'` lists them")
        writer.index.remove_edition(date, page)
        writer.save()
        return len(pages)


def list_editions(location: str | os.PathLike | Location) -> list[EditionRow]:
    """The editions of the index at `location` (a folder or Milvus URI), by date; a folder's
    store is read alone (no vectors)."""
    loc = parse_location(location)
    if loc.is_milvus:
        from qa.store.milvus import MilvusIndex

        index = MilvusIndex.open(loc)
        counts, editions = index.store.edition_counts(), index.store.editions()
    else:
        from qa.store.sqlite import Store

        folder = Path(loc.target)
        if not (folder / MANIFEST).exists():
            Index.load(folder)  # raises the usual "no index at ..." message
        with Store(folder / STORE, readonly=True) as store:  # a published store is never written
            counts, editions = store.edition_counts(), store.editions()
    by_date: dict[str, list[Any]] = {}
    for e in editions:
        by_date.setdefault(e.date, []).append(e)
    return [EditionRow(d, tuple(e.page for e in es),
                       sum(counts.get((e.date, e.page), (0, 0))[0] for e in es),
                       sum(counts.get((e.date, e.page), (0, 0))[1] for e in es),
                       max(e.added for e in es))
            for d, es in sorted(by_date.items())]
