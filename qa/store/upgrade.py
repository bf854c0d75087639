"""An index folder of format 1 brought to format 2 without re-embedding (`edition-qa upgrade`).

Format 1 stored passage text and FTS content and wrote `vectors.faiss`; the vectors file itself
is the same FAISS index in both formats. The upgrade reads the old store (editions, articles,
passages as they are), writes a format 2 store (FTS terms segmented again), keeps the vectors,
and swaps the new folder in atomically under the writer lock, like `build`.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any
from urllib.parse import quote

from qa.errors import IndexFormatError, InputError
from qa.store.folder import clean_stale, writer_lock
from qa.store.versions import FORMAT_VERSION, MANIFEST, STORE, rebuild_hint
from qa.text import TOKENIZER_VERSION
from qa.types import Article, Passage

__all__ = ["upgrade_folder"]


class _Recorded:
    """The embedder an index was built with, as its manifest records it (nothing is embedded)."""

    def __init__(self, manifest: dict[str, Any]) -> None:
        self.model_id = str(manifest["model"])
        self.dim = int(manifest["dimension"])
        self.prompts = manifest.get("prompts")

    def embed_passages(self, texts: list[str], *, progress: bool = False) -> Any:
        raise InputError("an index being upgraded embeds nothing")


def upgrade_folder(folder: str | Path) -> dict[str, int]:
    """Rewrite the format 1 index at `folder` in format 2, vectors kept; returns its counts.

    Raises InputError when it is already format 2, IndexFormatError when it cannot be upgraded
    (another format or text segmentation: rebuild it then).
    """
    from qa.store.index import Index, merge_settings
    from qa.store.vectors import Vectors

    folder = Path(folder)
    hint = rebuild_hint(folder)
    with writer_lock(folder):
        clean_stale(folder)
        try:
            manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
            version = int(manifest["format_version"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise IndexFormatError(f"No readable index at {folder} ({exc}). {hint}") from None
        if version == FORMAT_VERSION:
            raise InputError(f"Index {folder} is already format {FORMAT_VERSION}; nothing to upgrade")
        if version != 1 or manifest.get("tokenizer_version") != TOKENIZER_VERSION:
            raise IndexFormatError(f"Index {folder} (format {version}, text segmentation "
                                   f"{manifest.get('tokenizer_version')}) cannot be upgraded. {hint}")
        settings = {k: manifest[k] for k in ("chunk", "fusion", "vectors") if isinstance(manifest.get(k), dict)}
        vectors = Vectors.read(folder / "vectors.faiss", settings=merge_settings(settings)["vectors"])
        index = Index(model=_Recorded(manifest), settings=settings, _vectors=vectors)
        index.manifest = {"generation": int(manifest.get("generation", 0))}
        uri = f"file:{quote(str((folder / STORE).resolve()))}?mode=ro"
        try:
            with closing(sqlite3.connect(uri, uri=True)) as old, index.store.transaction():
                for date, page, source, sha256, added in old.execute(
                        "SELECT date, page, source, sha256, added FROM editions ORDER BY date, page").fetchall():
                    arts = [Article.from_dict(json.loads(r[0])) for r in old.execute(
                        "SELECT json FROM articles WHERE date = ? AND page = ? ORDER BY position", (date, page))]
                    passages = [Passage(*r) for r in old.execute(
                        'SELECT p.id, p.article_id, p.start, p."end", p.text FROM passages p JOIN articles a '
                        "ON a.id = p.article_id WHERE a.date = ? AND a.page = ? ORDER BY p.id", (date, page))]
                    index.store.add_edition(date, page, arts, passages, source=source, sha256=sha256, added=added)
        except sqlite3.DatabaseError as exc:
            raise IndexFormatError(f"Index file {folder / STORE} cannot be read as format 1 ({exc}). {hint}") from None
        if index.store.counts()["passages"] != len(vectors):
            raise IndexFormatError(f"Index {folder}: {len(vectors)} vectors but "
                                   f"{index.store.counts()['passages']} passages. {hint}")
        try:
            index.save(folder)
            return dict(index.manifest["counts"])
        finally:
            index.close()
