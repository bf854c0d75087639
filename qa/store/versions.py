"""Versions of an index folder: its manifest, a vectors file per generation, changes committed in place.

A folder (format 2) holds `manifest.json`, `store.sqlite` (WAL mode) and `vectors-G.faiss`,
G the generation that wrote it. A change to a folder is applied where it lies:

1. the edition changes go into one SQLite transaction on the live `store.sqlite`, invisible
   to every reader (each holds a snapshot of the version it loaded);
2. the vectors of the new generation are written to `vectors-G.faiss` (a temporary file,
   fsynced, renamed): no published file is ever changed;
3. the transaction commits with the new manifest in the store's meta table: this is the
   commit point. A writer killed before it leaves the previous version whole (SQLite drops an
   uncommitted transaction; a vectors file nothing names is removed by the next writer);
4. `manifest.json` is replaced by a copy of the committed manifest (readers stat it to notice
   a new version) and vectors files older than the previous generation are removed.

Loading reads the manifest of the store's snapshot, so a version committed before a writer
died, `manifest.json` not yet replaced, is loaded whole all the same.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from qa.errors import IndexFormatError
from qa.store.folder import checkpoint, write_atomic
from qa.store.sqlite import StaleSnapshotError
from qa.store.vectors import Vectors
from qa.text import TOKENIZER_VERSION

__all__ = ["FORMAT_VERSION", "MANIFEST", "STORE", "commit_in_place", "first_line", "manifest_text",
           "next_manifest", "read_manifest", "read_vectors", "rebuild_hint", "repair_manifest", "vectors_name"]

FORMAT_VERSION = 2  # 2: contentless FTS, passage text sliced from bodies, vectors file per generation
MANIFEST = "manifest.json"
STORE = "store.sqlite"
_VECTORS = re.compile(r"^vectors-(\d+)\.faiss$")


def vectors_name(generation: int) -> str:
    """The vectors file that generation `generation` of a folder writes."""
    return f"vectors-{int(generation)}.faiss"


def rebuild_hint(path: Path) -> str:
    return f"Rebuild it with `edition-qa build --index {path}`."


def read_manifest(folder: Path, hint: str) -> dict[str, Any]:
    """`manifest.json` of `folder`, checked for format and text segmentation; IndexFormatError else."""
    path = folder / MANIFEST
    if not path.is_file():
        raise IndexFormatError(f"No index at {folder} (manifest.json missing). {hint}")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        version = int(manifest["format_version"])
        str(manifest["model"])
        int(manifest["dimension"])
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise IndexFormatError(f"Index manifest {path} is unreadable ({exc}). {hint}") from None
    if version != FORMAT_VERSION:
        upgrade = f"`edition-qa upgrade --index {folder}` converts it without re-embedding, or " if version == 1 else ""
        raise IndexFormatError(
            f"Index {folder} has format version {version}; this edition-qa reads "
            f"version {FORMAT_VERSION}. {upgrade}{hint[0].lower() if upgrade else hint[0]}{hint[1:]}")
    if manifest.get("tokenizer_version") != TOKENIZER_VERSION:
        raise IndexFormatError(
            f"Index {folder} was built with text segmentation version "
            f"{manifest.get('tokenizer_version')}; this edition-qa uses {TOKENIZER_VERSION}. {hint}")
    if not isinstance(manifest.get("vectors_file"), str) or not _VECTORS.match(manifest["vectors_file"]):
        raise IndexFormatError(f"Index manifest {path} names no vectors file. {hint}")
    return manifest


def manifest_text(manifest: dict[str, Any]) -> str:
    """The manifest as written to `manifest.json` and to the store's meta table."""
    return json.dumps(manifest, ensure_ascii=False, indent=2) + "\n"


def next_manifest(index: Any) -> tuple[dict[str, Any], str]:
    """The manifest of the next generation of `index` (its counts refreshed) and its text."""
    index._touch()
    generation = int(index.manifest.get("generation", 0)) + 1
    manifest = {**index.manifest, "generation": generation, "vectors_file": vectors_name(generation)}
    return manifest, manifest_text(manifest)


def commit_in_place(index: Any, folder: Path) -> Path:
    """Publish the changes of `index` (loaded from `folder` with a snapshot store) as its next
    generation (see the module doc); the index then holds the new version."""
    with index._lock:
        store_file = folder / STORE
        if os.stat(store_file).st_ino != index._store_inode:
            raise StaleSnapshotError(f"{folder} was replaced since it was loaded; load it again")
        manifest, text = next_manifest(index)
        generation = manifest["generation"]
        write_atomic(folder / manifest["vectors_file"], index.vectors.write)
        checkpoint("saving")
        index.store.commit({"manifest": text})  # the commit point
        index.manifest = manifest
        checkpoint("swapped")
        write_atomic(folder / MANIFEST, lambda p: p.write_text(text, encoding="utf-8"))
        for p in folder.iterdir():  # keep this generation's vectors and the previous one's
            m = _VECTORS.match(p.name)
            if m and int(m.group(1)) not in (generation, generation - 1):
                p.unlink(missing_ok=True)
    return folder


def repair_manifest(folder: Path, manifest: dict[str, Any]) -> bool:
    """Replace `manifest.json` by the committed `manifest` when it shows another generation (its
    writer died after the commit point); call holding the writer lock. True when replaced."""
    try:
        shown = json.loads((folder / MANIFEST).read_text(encoding="utf-8")).get("generation")
    except (OSError, ValueError):
        shown = None
    if shown == manifest.get("generation"):
        return False
    text = manifest_text(manifest)
    write_atomic(folder / MANIFEST, lambda p: p.write_text(text, encoding="utf-8"))
    return True


def read_vectors(folder: Path, manifest: dict[str, Any], settings: dict[str, Any], hint: str) -> Vectors:
    """The vectors file the manifest names (`settings`: its vector settings); IndexFormatError when
    missing or corrupt."""
    path = folder / str(manifest["vectors_file"])
    if not path.is_file():
        raise IndexFormatError(f"Index {folder} lacks {path.name}. {hint}")
    try:
        return Vectors.read(path, settings=settings)
    except Exception as exc:  # faiss raises RuntimeError with a C++ message
        raise IndexFormatError(f"Index file {path} is corrupt ({first_line(exc)}). {hint}") from None


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
