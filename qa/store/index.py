"""Index facade: the SQLite edition store plus FAISS vectors, saved as one folder with a manifest."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import tempfile
import threading
import time
import weakref
from collections.abc import Iterable, Sequence
from contextlib import closing
from pathlib import Path
from typing import Any

import numpy as np

from qa.errors import IndexFormatError, InputError
from qa.store.folder import WORKDIR_PREFIX, checkpoint, fsync_path, replace_dir, writer_lock
from qa.store.vectors import DEFAULT_VECTOR_SETTINGS, Vectors
from qa.store.versions import (FORMAT_VERSION, MANIFEST, STORE, commit_in_place, next_manifest, read_manifest,
                               read_vectors, rebuild_hint)
from qa.text import TOKENIZER_VERSION
from qa.types import Article

DEFAULT_MODEL = "multilingual-e5-small"
# Past this many passages `load` compares the store's passage count with the vectors' instead of
# their id sets (a second per million): the store and the vectors file of a version are
# published by one commit (qa.store.versions), and the manifest records the ids' sha256.
FULL_CHECK_MAX = 200_000

# Chunk and fusion settings recorded in the manifest; `retrieve` reads the fusion ones.
# Fusion chosen on CMRC 2018 dev and our own sample questions (see `qa.search.retrieve.fuse`):
# weighted min-max dense + max-normalized BM25 beat RRF (k 10..60) by 6 points of R@1 on
# CMRC; hub_weight 0.5 (costs 0.1 pt there) keeps English questions from being pulled to a
# headline-only brief on the sample. English questions weigh the dense side by dense_weight_en:
# their lexical side asks for dictionary candidates, and on the written English CMRC dev
# questions, part B (chosen on), end-to-end F1 is 0.381 / 0.416 / 0.426 / 0.429 / 0.399 at dense
# weight 0.4 / 0.7 / 0.8 / 0.9 / 1.0 (0.8: the best with its neighbours; docs/quality.md).
DEFAULT_SETTINGS: dict[str, dict[str, Any]] = {
    "chunk": {"size": None, "overlap": 1},  # size None: qa.editions.chunk.DEFAULT_SIZE
    # merge_gap 0: overlapping neighbours are not joined (see qa.search.retrieve.MERGE_GAP);
    # rerank: the term-coverage second stage (qa.search.rerank) re-orders the fused top passages.
    "fusion": {"method": "weighted", "depth": 50, "dense_weight": 0.4, "dense_weight_en": 0.8,
               "hub_weight": 0.5, "rrf_k": 60, "merge_gap": 0.0, "rerank": True},
    # FAISS index kind by size (exact, then IVF over 8-bit codes): see qa.store.vectors.
    "vectors": dict(DEFAULT_VECTOR_SETTINGS),
}


def merge_settings(settings: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """DEFAULT_SETTINGS updated section by section with `settings`."""
    merged = {name: dict(values) for name, values in DEFAULT_SETTINGS.items()}
    for name, values in (settings or {}).items():
        if name not in merged or not isinstance(values, dict):
            raise InputError(f"Unknown index setting {name!r}; known: {', '.join(merged)}.")
        merged[name].update(values)
    if merged["chunk"]["size"] is None:
        from qa.editions.chunk import DEFAULT_SIZE

        merged["chunk"]["size"] = DEFAULT_SIZE
    return merged


def _resolve_embedder(model: Any) -> Any:
    if not isinstance(model, str):
        return model  # an Embedder-like object (tests, custom models)
    from qa.models.embed import get_embedder

    return get_embedder(model)


def _source_items(sources: Iterable[Any]) -> list[tuple[Path, str | None, int | None]]:
    """Paths or EditionFile-like (path, date, page) items as (path, date, page)."""
    items = []
    for src in sources:
        if isinstance(src, (str, os.PathLike)):
            items.append((Path(src), None, None))
        elif hasattr(src, "path"):
            # "" and 0 mean unknown (the CLI passes them): let the sidecar or file name decide.
            items.append((Path(src.path), getattr(src, "date", None) or None,
                          getattr(src, "page", None) or None))
        else:
            raise InputError(f"Cannot index {src!r}: give an edition file path.")
    return items


class Index:
    """Articles, passages and their vectors, searchable by `qa.search.retrieve.retrieve`.

    A new index keeps its store in a private working folder until `save` copies it out. A
    loaded one reads its folder's store in place through a snapshot (the version it loaded,
    whatever other processes publish meanwhile); its changes stay invisible to everyone else
    until `save` to the same folder commits them (qa.store.versions), and are dropped by `close`.
    """

    def __init__(self, *, model: Any, settings: dict[str, Any] | None = None,
                 manifest: dict[str, Any] | None = None, _store: Any = None,
                 _vectors: Vectors | None = None, _folder: Path | None = None) -> None:
        from qa.store.sqlite import Store

        self.settings = merge_settings(settings)
        self._model = model
        self._embedder: Any = None if isinstance(model, str) else model
        self._lock = threading.RLock()
        self._folder = _folder  # the folder whose store this index reads in place, if any
        self._store_inode = os.stat(_folder / STORE).st_ino if _folder is not None else None
        self._workdir: Path | None = None
        self._cleanup: Any = None
        if _store is None:  # a store of its own: the working copy goes with the index
            self._workdir = Path(tempfile.mkdtemp(prefix=f"{WORKDIR_PREFIX}{os.getpid()}-"))
            _store = Store(self._workdir / STORE)
            self._cleanup = weakref.finalize(self, shutil.rmtree, str(self._workdir), True)
        self.store = _store  # a snapshot store closes when the last reference to it goes
        self._vectors = _vectors
        self.manifest: dict[str, Any] = dict(manifest or {})

    # -- construction ----------------------------------------------------------------------

    @classmethod
    def build(cls, sources: Iterable[Any], *, model: Any = DEFAULT_MODEL,
              settings: dict[str, Any] | None = None, progress: bool = True) -> Index:
        """Parse, chunk, embed and index edition files (paths or (path, date, page) items).

        Args:
            sources: edition files, or EditionFile-like items with path, date and page.
            model: sentence-transformers model id or folder (or an Embedder-like object).
            settings: overrides of DEFAULT_SETTINGS, e.g. {"chunk": {"size": 250}}.
            progress: show a progress bar while embedding.
        Returns:
            The in-memory index; `save` writes it to a folder.
        """
        index = cls(model=model, settings=settings)
        for path, date, page in _source_items(sources):
            index.add_edition(path, date=date, page=page, progress=progress)
        return index

    @classmethod
    def from_articles(cls, articles: Iterable[Article], *, model: Any = DEFAULT_MODEL,
                      settings: dict[str, Any] | None = None, progress: bool = True) -> Index:
        """An index over already parsed articles (benchmarks, structured sources)."""
        index = cls(model=model, settings=settings)
        index.add_articles(list(articles), progress=progress)
        return index

    @property
    def embedder(self) -> Any:
        """The embedding model, loaded on first use (lexical-only work never loads it)."""
        with self._lock:
            if self._embedder is None:
                self._embedder = _resolve_embedder(self._model)
            return self._embedder

    @property
    def model_id(self) -> str:
        """The embedder's canonical model id (as recorded in the manifest)."""
        if self._embedder is None and isinstance(self._model, str):
            return self._model
        return str(getattr(self.embedder, "model_id", type(self.embedder).__name__))

    @property
    def vectors(self) -> Vectors:
        with self._lock:
            if self._vectors is None:
                self._vectors = Vectors(int(self.embedder.dim), settings=self.settings["vectors"])
            return self._vectors

    # -- changes ---------------------------------------------------------------------------

    def add_articles(self, articles: Sequence[Article], *, progress: bool = False,
                     source: str = "", sha256: str = "") -> int:
        """Store and embed articles, replacing the edition pages they belong to.

        Only passages without a vector yet are embedded; returns how many were.
        """
        from qa.editions.chunk import chunk_article, embedding_text

        chunk = self.settings["chunk"]
        pages: dict[tuple[str, int], list[Article]] = {}
        for a in articles:
            pages.setdefault((a.date, a.page), []).append(a)
        passages = {a.id: chunk_article(a, size=chunk["size"], overlap=chunk["overlap"])
                    for a in articles}
        with self._lock:
            ids = np.asarray([p.id for a in articles for p in passages[a.id]], dtype=np.int64)
            kept = set(ids[np.isin(ids, self.vectors.ids())].tolist())
            new = [(a, p) for a in articles for p in passages[a.id] if p.id not in kept]
            # Embed before touching the store so that a failing model changes nothing.
            vecs = self.embedder.embed_passages(
                [embedding_text(a, p) for a, p in new], progress=progress
            ) if new else np.zeros((0, self.vectors.dim), dtype=np.float32)
            removed: set[int] = set()
            added: set[int] = set()
            try:
                for (date, page), arts in pages.items():
                    removed.update(self.store.remove_edition(date, page))  # re-adding a page replaces it
                    page_passages = [p for a in arts for p in passages[a.id]]
                    self.store.add_edition(date, page, arts, page_passages, source=source, sha256=sha256)
                    added.update(p.id for p in page_passages)
            finally:
                # Whatever the store now holds, the vectors match it (a page that failed to
                # add, e.g. an article id clash, is gone from both).
                self.vectors.remove(removed - added)
                keep = [i for i, (_, p) in enumerate(new) if p.id in added]
                self.vectors.add([new[i][1].id for i in keep], vecs[keep] if keep else vecs[:0])
                self._touch()
        return len(new)

    def add_edition(self, path: str | os.PathLike, *, date: str | None = None,
                    page: int | None = None, progress: bool = False) -> int:
        """Add (or replace) one edition file; embeds only passages not indexed yet."""
        from qa.editions.parse import load_edition

        path = Path(path)
        articles = load_edition(path, date=date, page=page, progress=progress)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        return self.add_articles(articles, progress=progress, source=path.name, sha256=digest)

    def remove_edition(self, date: str, page: int | None = None) -> int:
        """Remove an edition (all pages, or one); returns the number of passages removed."""
        with self._lock:
            ids = self.store.remove_edition(date, page)
            self.vectors.remove(ids)
            self._touch()
            return len(ids)

    # -- reading ---------------------------------------------------------------------------

    def articles(self) -> list[Article]:
        return self.store.articles()

    def article(self, article_id: str) -> Article | None:
        return self.store.article(article_id)

    def __len__(self) -> int:
        return len(self.vectors)

    # -- manifest, save, load --------------------------------------------------------------

    def _touch(self) -> None:
        self.manifest = self._make_manifest()

    def _corpus_sha256(self) -> str:
        """sha256 of the sorted passage ids as little-endian int64 (the vectors hold the store's ids)."""
        return hashlib.sha256(np.sort(self.vectors.ids()).astype("<i8").tobytes()).hexdigest()

    def _make_manifest(self) -> dict[str, Any]:
        from qa.version import __version__

        old = self.manifest  # a loaded index that only lost pages need not load its model
        known = self._embedder is None and all(k in old for k in ("model", "dimension", "prompts"))
        emb = None if known else self.embedder
        prompts = old["prompts"] if known else getattr(emb, "prompts", None)
        return {
            "format_version": FORMAT_VERSION,
            "tokenizer_version": TOKENIZER_VERSION,
            "package_version": __version__,
            "model": old["model"] if known else self.model_id,
            "dimension": int(old["dimension"] if known else emb.dim),
            "prompts": dict(prompts) if isinstance(prompts, dict) else prompts,
            "chunk": self.settings["chunk"],
            "fusion": self.settings["fusion"],
            "vectors": {**self.settings["vectors"], **self.vectors.describe()},
            "counts": {**self.store.counts(), "vectors": len(self.vectors)},
            "corpus_sha256": self._corpus_sha256(),
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "generation": int(self.manifest.get("generation", 0)),  # saves of this folder so far
        }

    def save(self, path: str | os.PathLike) -> Path:
        """Write the index folder atomically: in place to the folder it was loaded from (see
        qa.store.versions), else a new folder (a temporary sibling, fsynced, then renamed)."""
        final = Path(path).absolute()
        if self._folder is not None and final.exists() and os.path.samefile(final, self._folder):
            return commit_in_place(self, final)
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.with_name(f".{final.name}.tmp-{os.getpid()}-{time.time_ns()}")
        try:
            tmp.mkdir()  # a plain mkdir honours the umask (mkdtemp would make it private)
            with self._lock:
                manifest, text = next_manifest(self)
                self.store.backup(tmp / STORE)
                with closing(sqlite3.connect(tmp / STORE)) as conn, conn:
                    conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('manifest', ?)", (text,))
                self.vectors.write(tmp / manifest["vectors_file"])
                (tmp / MANIFEST).write_text(text, encoding="utf-8")
            for name in (STORE, manifest["vectors_file"], MANIFEST):
                fsync_path(tmp / name)
            fsync_path(tmp)
            checkpoint("saving")
            replace_dir(tmp, final)
            self.manifest = manifest
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return final

    @classmethod
    def load(cls, path: str | os.PathLike, *, model: Any = None) -> Index:
        """Open a saved index; IndexFormatError (files untouched) when it cannot be used as is.

        Args:
            path: the index folder.
            model: when given, the model the caller expects the index to be built with (an id,
                or an Embedder-like object to use instead of loading the recorded model).
        """
        from qa.store.sqlite import Store

        folder = Path(path)
        hint = rebuild_hint(folder)
        manifest = read_manifest(folder, hint)
        built_model = str(manifest["model"])
        name = model if model is None or isinstance(model, str) else str(getattr(model, "model_id", ""))
        if name is not None and not _same_model(name, built_model):
            raise IndexFormatError(
                f"Index {folder} was built with model {built_model!r}, not {name!r}. "
                f"Rebuild it with `edition-qa build --index {folder} --model {name}`.")
        if not (folder / STORE).is_file():
            raise IndexFormatError(f"Index {folder} lacks {STORE}. {hint}")
        settings = {k: manifest[k] for k in ("chunk", "fusion", "vectors") if isinstance(manifest.get(k), dict)}
        vectors = read_vectors(folder, manifest, merge_settings(settings)["vectors"], hint)  # before the store: corrupt files stay as they are
        try:
            store = Store(folder / STORE, snapshot=True)
            committed = json.loads(store.meta().get("manifest", "{}"))
        except Exception as exc:  # IndexFormatError from the store, sqlite3.DatabaseError
            raise IndexFormatError(f"Index file {folder / STORE} is corrupt or not an edition-qa "
                                   f"store. {hint}") from exc
        if committed.get("generation") != manifest.get("generation"):
            # A version committed after manifest.json was read, or before its writer died.
            manifest = {**manifest, **committed}
            vectors = read_vectors(folder, manifest, merge_settings(settings)["vectors"], hint)
        count = store.counts()["passages"]
        if count != len(vectors) or (count <= FULL_CHECK_MAX and set(store.passage_ids()) != set(
                int(i) for i in vectors.ids())):
            store.close()
            raise IndexFormatError(
                f"Index {folder}: {len(vectors)} vectors but {count} passages in the store "
                f"(an interrupted write?). {hint}")
        if vectors.dim != int(manifest["dimension"]):
            store.close()
            raise IndexFormatError(f"Index {folder}: vectors have dimension {vectors.dim}, "
                                   f"the manifest says {manifest['dimension']}. {hint}")
        return cls(model=model or built_model, settings=settings, manifest=manifest, _store=store,
                   _vectors=vectors, _folder=folder)

    def close(self) -> None:
        """Close the store (dropping changes not saved) and remove the working copy, if any
        (also done when the index is garbage collected)."""
        self.store.close()
        if self._cleanup is not None:
            self._cleanup()


def _same_model(a: str, b: str) -> bool:
    """Model ids equal up to case and an organisation prefix ("intfloat/multilingual-e5-small")."""
    return a.lower().rstrip("/").rsplit("/", 1)[-1] == b.lower().rstrip("/").rsplit("/", 1)[-1]


_default: Any = None  # a qa.store.live.LiveIndex over qa.paths.default_index_dir()
_default_lock = threading.Lock()


def default_live(*, progress: bool = False) -> Any:
    """The qa.store.live.LiveIndex over qa.paths.default_index_dir() (built from the sample
    edition if missing); one per process."""
    global _default
    with _default_lock:
        if _default is None:
            from qa.paths import default_index_dir, sample_editions
            from qa.store.live import LiveIndex

            folder = default_index_dir()
            with writer_lock(folder):
                if not (folder / MANIFEST).exists():
                    Index.build(sample_editions(), model=DEFAULT_MODEL, progress=progress).save(folder)
            _default = LiveIndex(folder, loader=lambda p: Index.load(p, model=DEFAULT_MODEL))
        return _default


def default_index(*, progress: bool = False) -> Index:
    """The default index as last saved: a newer version of its folder, e.g. from `edition-qa
    add`, is picked up without a restart (see qa.store.live). Safe to call from several threads."""
    return default_live(progress=progress).current()


__all__ = ["DEFAULT_MODEL", "DEFAULT_SETTINGS", "FORMAT_VERSION", "Index", "Vectors",
           "default_index", "default_live", "merge_settings"]
