"""An index folder as an archive of editions: add files and folders, remove pages, list them.

Every change is load -> modify -> save under the folder's writer lock (`writer_lock`), so
two writers in different processes take turns and neither loses the other's editions. A
batch is published by one atomic save at its end: readers see all of it or none of it, and
a writer killed at any point leaves the previous version in place (its leftovers are
removed by the next writer, `clean_stale`).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qa.errors import InputError, QAError
from qa.store.folder import checkpoint, clean_stale, writer_lock
from qa.store.index import DEFAULT_MODEL, MANIFEST, STORE, Index

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


def _open(folder: Path, model: Any) -> Index:
    """The index saved at `folder` (checked against `model` when one is given), or a new one."""
    if (folder / MANIFEST).exists():
        return Index.load(folder, model=model)
    return Index(model=model if model is not None else DEFAULT_MODEL)


def add_editions(folder: str | os.PathLike, paths: Iterable[str | os.PathLike], *,
                 model: Any = None, date: str | None = None, page: int | None = None,
                 progress: bool = False,
                 report: Callable[[AddOutcome], None] | None = None) -> AddResult:
    """Add edition files and folders to the index at `folder` (created when missing).

    A page whose file has the same sha256 as the stored one is left as it is ("unchanged");
    a changed page replaces its old version. A file that fails gets an outcome with its error
    and the rest of the batch is still added. The batch is saved once, atomically, at the end
    (nothing is saved when nothing changed).

    Args:
        folder: the index folder.
        paths: edition files and folders (searched recursively).
        model: for a new index, the model to build it with (default multilingual-e5-small);
            for an existing one, the model it must have been built with (None: any).
        date, page: the edition of a single file (default: sidecar JSON, then the file name).
        progress: show progress bars while embedding.
        report: called with each file's outcome as soon as it is known.
    Returns:
        The outcomes in file order, whether a new version was saved, and the index's counts.
    """
    from qa.editions.parse import load_edition

    folder = Path(folder)
    files = edition_files(paths)
    if (date is not None or page is not None) and len(files) > 1:
        raise InputError("--date and --page apply to a single edition file; give one file at a time")
    outcomes: list[AddOutcome] = []
    with writer_lock(folder):
        clean_stale(folder)
        index = _open(folder, model)
        try:
            stored = {(e.date, e.page): e.sha256 for e in index.store.editions()}
            changed = False
            for path, error in files:
                if not error:
                    try:
                        articles = load_edition(path, date=date, page=page)
                        digest = hashlib.sha256(path.read_bytes()).hexdigest()
                        pages = tuple(sorted({(a.date, a.page) for a in articles}))
                        if not pages:
                            raise InputError(f"{path.name}: no articles found in this file")
                        if all(stored.get(p) == digest for p in pages):
                            outcome = AddOutcome(str(path), "unchanged", pages, len(articles))
                        else:
                            embedded = index.add_articles(articles, progress=progress,
                                                          source=path.name, sha256=digest)
                            passages = sum(len(index.store.passage_ids(date=d, page=n)) for d, n in pages)
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
            if changed:
                index.save(folder)
            return AddResult(outcomes, changed, dict(index.manifest.get("counts", {})),
                             int(index.manifest.get("generation", 0)))
        finally:
            index.close()


def remove_editions(folder: str | os.PathLike, date: str, page: int | None = None) -> int:
    """Remove an edition date (all its pages, or one) from the index at `folder`; returns the
    number of pages removed. InputError when the index holds no such edition."""
    folder = Path(folder)
    with writer_lock(folder):
        clean_stale(folder)
        index = Index.load(folder)
        try:
            pages = [e for e in index.store.editions() if e.date == date and page in (None, e.page)]
            if not pages:
                which = f"{date} page {page}" if page is not None else date
                raise InputError(f"no edition {which} in {folder}; "
                                 f"`edition-qa editions --index {folder}` lists them")
            index.remove_edition(date, page)
            index.save(folder)
            return len(pages)
        finally:
            index.close()


def list_editions(folder: str | os.PathLike) -> list[EditionRow]:
    """The editions of the index at `folder`, by date (reads the store only, no vectors)."""
    from qa.store.sqlite import Store

    folder = Path(folder)
    if not (folder / MANIFEST).exists():
        Index.load(folder)  # raises the usual "no index at ..." message
    with Store(folder / STORE, readonly=True) as store:  # a published store is never written
        counts = store.edition_counts()
        by_date: dict[str, list[Any]] = {}
        for e in store.editions():
            by_date.setdefault(e.date, []).append(e)
    return [EditionRow(d, tuple(e.page for e in es),
                       sum(counts.get((e.date, e.page), (0, 0))[0] for e in es),
                       sum(counts.get((e.date, e.page), (0, 0))[1] for e in es),
                       max(e.added for e in es))
            for d, es in sorted(by_date.items())]
