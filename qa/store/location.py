"""Where an index lives: a folder (SQLite FTS5 + FAISS) or a Milvus collection, named by a URI.

    index/default                      a folder (the default kind)
    milvus:///abs/path/x.db            Milvus Lite, in-process (the .db path is its data folder)
    milvus://rel/x.db?collection=c     the same, relative path, another collection
    http://host:19530?collection=c     a Milvus server (Standalone, Distributed; https for TLS)

The token and database of a server come from `EDITION_QA_MILVUS_TOKEN` and
`EDITION_QA_MILVUS_DB` (the CLI's `--milvus-token` / `--milvus-db` set them); a token is never
part of what `Location.display` shows. `EDITION_QA_MILVUS_TIMEOUT` bounds every call (seconds).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from qa.errors import InputError

__all__ = ["DEFAULT_COLLECTION", "Location", "copy_index", "load", "open_index", "parse_location",
           "write_index"]

DEFAULT_COLLECTION = "edition_qa"
DEFAULT_TIMEOUT = 10.0
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_COLLECTION = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,200}$")


@dataclass(frozen=True)
class Location:
    """A parsed index location. `kind` is "folder", "lite" (in-process Milvus) or "server"."""

    kind: str
    target: str  # the folder, the Milvus Lite .db path, or the server URI without query
    collection: str = DEFAULT_COLLECTION
    token: str = ""
    db: str = ""
    timeout: float = DEFAULT_TIMEOUT

    @property
    def is_milvus(self) -> bool:
        return self.kind != "folder"

    @property
    def display(self) -> str:
        """The location as it may be printed: no token, no password."""
        if self.kind == "folder":
            return self.target
        base = f"milvus://{self.target}" if self.kind == "lite" else self.target
        return f"{base}?collection={self.collection}"

    def __repr__(self) -> str:  # never show the token
        return f"Location({self.display!r})"


def _timeout() -> float:
    raw = os.environ.get("EDITION_QA_MILVUS_TIMEOUT", "")
    try:
        value = float(raw) if raw else DEFAULT_TIMEOUT
    except ValueError:
        raise InputError(f"EDITION_QA_MILVUS_TIMEOUT must be a number of seconds, not {raw!r}") from None
    if value <= 0:
        raise InputError("EDITION_QA_MILVUS_TIMEOUT must be positive")
    return value


def parse_location(text: str | os.PathLike | Location, *, token: str | None = None,
                   db: str | None = None) -> Location:
    """A Location from a folder path or a Milvus URI; InputError for a malformed URI."""
    if isinstance(text, Location):
        return text
    raw = os.fspath(text)
    m = _SCHEME.match(raw)
    if not m:
        if not raw.strip():
            raise InputError("The index location is empty; give a folder or a Milvus URI.")
        return Location("folder", raw)
    scheme = m.group(1).lower()
    if scheme not in ("milvus", "http", "https"):
        raise InputError(f"Unknown index location scheme {scheme!r} in {_redact(raw)!r}: give a folder, "
                         "milvus:///path/x.db (Milvus Lite) or http://host:19530 (a Milvus server).")
    parts = urlsplit(raw)
    query = parse_qs(parts.query, keep_blank_values=True)
    unknown = set(query) - {"collection"}
    if unknown:
        raise InputError(f"Unknown option(s) {', '.join(sorted(unknown))} in index URI {_redact(raw)!r}; "
                         "only ?collection=NAME is read (token and database come from options).")
    collection = (query.get("collection") or [DEFAULT_COLLECTION])[-1]
    if not _COLLECTION.match(collection):
        raise InputError(f"Bad collection name {collection!r}: letters, digits and _, not starting "
                         "with a digit.")
    token = os.environ.get("EDITION_QA_MILVUS_TOKEN", "") if token is None else token
    db = os.environ.get("EDITION_QA_MILVUS_DB", "") if db is None else db
    if scheme == "milvus":
        path = raw[len(m.group(0)):].split("?", 1)[0].split("#", 1)[0]
        if not path or not path.endswith(".db") or path.endswith("/.db"):
            raise InputError(f"Milvus Lite URI {raw!r} must name a .db path, e.g. milvus:///data/archive.db")
        return Location("lite", path, collection, timeout=_timeout())
    if not parts.hostname:
        raise InputError(f"Milvus server URI {_redact(raw)!r} has no host, e.g. http://127.0.0.1:19530")
    try:
        port = parts.port
    except ValueError:
        raise InputError(f"Milvus server URI {_redact(raw)!r} has a bad port") from None
    if parts.username and not token:  # http://user:password@host: the credentials are the token
        token = f"{parts.username}:{parts.password or ''}"
    netloc = parts.hostname + (f":{port}" if port else "")
    target = f"{scheme}://{netloc}{parts.path.rstrip('/')}"
    return Location("server", target, collection, token=token, db=db, timeout=_timeout())


def _redact(uri: str) -> str:
    return re.sub(r"//[^@/]*@", "//***@", uri)


def open_index(location: Any, *, model: str | None = None) -> Any:
    """The index at a folder or Milvus location (IndexFormatError when there is none)."""
    loc = parse_location(location)
    if loc.is_milvus:
        from qa.store.milvus import MilvusIndex

        return MilvusIndex.open(loc, model=model)
    from qa.store.index import Index

    return Index.load(Path(loc.target), model=model)


def write_index(index: Any, location: Any, *, progress: bool = False) -> str:
    """Write `index` (folder or Milvus) to `location`, replacing what is there atomically.

    Vectors are read back from the source, never re-embedded. Returns the display location.
    """
    loc = parse_location(location)
    if loc.is_milvus:
        from qa.store.milvus import write_milvus

        write_milvus(index, loc, progress=progress)
    else:
        from qa.store.index import Index

        if isinstance(index, Index):
            index.save(Path(loc.target))
        else:
            from qa.store.milvus import to_local

            to_local(index).save(Path(loc.target))
    return loc.display


def copy_index(src: Any, dst: Any, *, progress: bool = False) -> dict[str, int]:
    """Copy the index at `src` to `dst` (either kind) without re-embedding; returns its counts."""
    source = open_index(src)
    try:
        write_index(source, dst, progress=progress)
        return dict(source.store.counts())
    finally:
        source.close()


def load(location: Any = None, *, progress: bool = False) -> Any:
    """The index at `location`; None: `$EDITION_QA_INDEX` (a folder or URI), else the default folder."""
    if location is None:
        explicit = os.environ.get("EDITION_QA_INDEX", "")
        if not _SCHEME.match(explicit):
            from qa.store.index import default_index

            return default_index(progress=progress)
        location = explicit
    return open_index(location)
