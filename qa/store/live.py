"""Serving an index folder while other processes change it: newer versions are picked up whole.

Writers (`qa.store.archive`) never change a published version: each save commits the next
generation in place (`qa.store.versions`: one SQLite transaction, a new vectors file) or swaps in
a new folder, and `manifest.json` is replaced by a new file (new inode) per version.
`LiveIndex.current()` stats that file (microseconds) before each question; when it changed,
the new version is loaded (a new snapshot of the store and the new vectors file; in a background
thread, or on the call when none is loaded yet) while questions keep using the old one, whose
snapshot still shows the version it loaded, then the reference is swapped under a lock. A question holds the Index it started with to the end, so it sees one version only;
the old Index is released (its snapshot ended) when the last question using it lets go
(reference counting runs its finalizer).

A load that overlaps a swap could read the manifest of one version and the files of the
next; the manifest is stat'ed before and after, and a load that straddled a change is retried.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["LiveIndex", "snapshot"]

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
LOAD_TRIES = 5


def _identity(folder: Path) -> tuple[int, ...] | None:
    """What tells one published version of the folder from the next (None: no index there)."""
    try:
        st = os.stat(folder / MANIFEST)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)


class LiveIndex:
    """The latest published version of an index folder, swapped in whole when it changes.

    Args:
        folder: the index folder.
        loader: loads a folder into an Index (e.g. `lambda p: Index.load(p, model=m)`).
        background: load a newer version in a thread (questions meanwhile use the current
            one) rather than on the call that noticed it.
    """

    def __init__(self, folder: str | os.PathLike, *, loader: Callable[[Path], Any],
                 background: bool = True) -> None:
        self.folder = Path(folder)
        self._loader = loader
        self._background = background
        self._lock = threading.RLock()
        self._index: Any = None
        self._seen: tuple[int, ...] | None = None  # identity of the version held (or that failed)
        self._loading: threading.Thread | None = None
        self.swaps = 0  # versions swapped in after the first

    def _load(self) -> tuple[Any, tuple[int, ...] | None]:
        """A fully loaded version and its identity; retried while the folder changes under it."""
        for _ in range(LOAD_TRIES - 1):
            before = _identity(self.folder)
            try:
                index = self._loader(self.folder)
            except Exception:
                if _identity(self.folder) == before:
                    raise  # a real error, not a swap in the middle of reading
                continue
            if _identity(self.folder) == before:
                return index, before
            index.close()
        before = _identity(self.folder)
        return self._loader(self.folder), before

    def current(self) -> Any:
        """The Index to answer one question with (hold it for the whole question)."""
        with self._lock:
            if self._index is None:
                self._index, self._seen = self._load()
                return self._index
            index = self._index
            if self._loading is not None or _identity(self.folder) in (self._seen, None):
                return index
            if not self._background:
                self._swap()
                return self._index
            self._loading = threading.Thread(target=self._reload, name="index-reload", daemon=True)
            self._loading.start()
            return index

    def _reload(self) -> None:
        try:
            self._swap()  # loads without holding the lock: questions go on meanwhile
        finally:
            with self._lock:
                self._loading = None

    def _swap(self) -> bool:
        """Load the folder's newer version and swap it in; False when it failed to load."""
        seen = _identity(self.folder)
        try:
            index, seen = self._load()
        except Exception as exc:
            # Keep serving the version we have; try again only when the folder changes again.
            log.error("could not load the new version of %s (%s); still serving the previous one",
                      self.folder, exc)
            with self._lock:
                self._seen = seen
            return False
        with self._lock:
            self._index, self._seen = index, seen
            self.swaps += 1
        log.info("now serving %s generation %s", self.folder, index.manifest.get("generation"))
        return True

    def refresh(self) -> bool:
        """Load a newer version now, if there is one (waits for a background load); True if swapped."""
        swaps, loading = self.swaps, self._loading
        if loading is not None:
            loading.join()
        with self._lock:
            if self._index is None:
                self._index, self._seen = self._load()
                return True
            if _identity(self.folder) in (self._seen, None):
                return self.swaps > swaps
            return self._swap()

    # Read-only conveniences over the current version (each call sees one version).

    def articles(self) -> list[Any]:
        return self.current().articles()

    def __len__(self) -> int:
        return len(self.current())

    @property
    def manifest(self) -> dict[str, Any]:
        return self.current().manifest


def snapshot(index: Any) -> Any:
    """The Index to use for one question: a LiveIndex's current version, else `index` itself."""
    return index.current() if isinstance(index, LiveIndex) else index
