"""An index in one Milvus collection: the same `store` / `vectors` surface as the folder index.

Schema (one row per passage, article part or edition page; `kind` tells them apart):
key (VARCHAR primary key: kind, id and generation), kind, gen, pid, article_id, date, page,
position (article in printed order), start / end (passage offsets, or article part number),
text (passage text, article or edition JSON), body and headline (the project's own jieba terms,
encoded so that Milvus's analyzer yields exactly those terms; see `encode_terms`), body_bm25 and
headline_bm25 (sparse vectors made by Milvus BM25 functions from them), vector (the passage
embedding; zeros for other rows). The collection properties hold the manifest (model,
dimension, prompts, chunk, fusion, segmentation and lexical settings); `open` refuses a mismatch.

Atomic changes (`qa.store.milvus_write.publish`): each edition page written gets a new
generation number, hidden from readers until one property write shows it and hides the page's
old generation, which is then deleted. Pages staged by `stage_articles` are published together
by `publish`, so a batch of files appears at once. A rebuild or copy fills a new physical
collection and swaps the alias to it.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from qa.errors import IndexFormatError, InputError
from qa.store.index import (
    _resolve_embedder,
    _same_model,
    merge_settings,
)
from qa.store.milvus_conn import GENERATION, Connection, milvus_client
from qa.store.milvus_read import PASSAGE, MilvusStore, MilvusVectors
from qa.store.milvus_write import LEXICAL, PagePayload, create_collection, publish, vector_index
from qa.text import TOKENIZER_VERSION
from qa.types import Article

__all__ = ["LEXICAL", "MilvusIndex", "to_local", "write_milvus"]


def _source_pages(index: Any) -> Any:
    """(edition dict, articles, passages, vectors) of every page of a folder or Milvus index."""
    for ed in index.store.editions():
        arts = index.store.articles(date=ed.date, page=ed.page)
        pids = index.store.passage_ids(date=ed.date, page=ed.page)
        vecs = index.vectors.vectors(pids) if pids else np.zeros((0, index.vectors.dim), np.float32)
        yield dict(ed._asdict()), arts, index.store.passages(pids), vecs


# The collection layout's own version, apart from the folder's FORMAT_VERSION (folder format 2
# changed SQLite and the vectors files, nothing of a collection).
MILVUS_FORMAT_VERSION = 1


def _manifest_of(index: Any) -> dict[str, Any]:
    m = dict(index.manifest or {})
    if not m and hasattr(index, "_touch"):
        index._touch()
        m = dict(index.manifest)
    keep = ("format_version", "tokenizer_version", "package_version", "model", "dimension", "prompts",
            "chunk", "fusion")
    return {**{k: m[k] for k in keep if k in m}, "format_version": MILVUS_FORMAT_VERSION}


def write_milvus(index: Any, loc: Any, *, progress: bool = False) -> None:
    """Copy a folder or Milvus index into a new collection and swap `loc.collection` to it."""
    from tqdm import tqdm

    client = milvus_client(loc)
    alias = loc.collection
    probe = Connection(loc, client)
    aliases = probe.call("list_aliases").get("aliases", []) if hasattr(client, "list_aliases") else []
    if alias not in aliases and probe.call("has_collection", alias):
        raise InputError(f"Milvus collection {alias!r} at {loc.display} exists and is not an edition-qa "
                         "alias; choose another ?collection= or drop it.")
    old = probe.call("describe_alias", alias).get("collection_name") if alias in aliases else None
    manifest = {**_manifest_of(index), "lexical": LEXICAL,
                "vector_index": vector_index(len(index.vectors))}
    physical = f"{alias}__{time.time_ns()}"
    conn = create_collection(loc, client, physical, manifest)
    try:
        pages = list(_source_pages(index))
        for k in tqdm(range(0, len(pages), 20), disable=not progress, desc="milvus", unit="page", unit_scale=20):
            publish(conn, pages[k:k + 20], int(manifest["dimension"]), new_version=False)
        if old:
            conn.call("alter_alias", physical, alias)
            conn.call("drop_collection", old)
        else:
            conn.call("create_alias", physical, alias)
    except BaseException:
        conn.call("drop_collection", physical)
        raise


class _ManifestModel:
    """The model as a manifest records it: lets an index be copied without loading the model."""

    def __init__(self, manifest: dict[str, Any]) -> None:
        self.model_id = str(manifest["model"])
        self.dim = int(manifest["dimension"])
        self.prompts = manifest.get("prompts")

    def embed_passages(self, texts: list[str], *, progress: bool = False) -> np.ndarray:
        raise InputError("This index copy cannot embed; open the copied index to add editions.")

    embed_queries = embed_passages


def to_local(index: Any) -> Any:
    """A folder Index (in memory) holding a Milvus index's rows and vectors, not re-embedded."""
    from qa.store.index import Index

    manifest = _manifest_of(index)
    local = Index(model=_ManifestModel(manifest), settings={k: manifest[k] for k in ("chunk", "fusion")
                                                             if isinstance(manifest.get(k), dict)})
    for ed, arts, passages, vecs in _source_pages(index):
        local.store.add_edition(ed["date"], int(ed["page"]), arts, passages, source=ed.get("source", ""),
                                sha256=ed.get("sha256", ""))
        local.vectors.add([p.id for p in passages], vecs)
    local._touch()
    return local


class MilvusIndex:
    """An index held by Milvus; `qa.search.retrieve` reads it as it reads the folder index."""

    def __init__(self, loc: Any, conn: Connection, manifest: dict[str, Any], *, model: Any) -> None:
        self.location = loc
        self.conn = conn
        self.manifest = manifest
        self.settings = merge_settings({k: manifest[k] for k in ("chunk", "fusion")
                                        if isinstance(manifest.get(k), dict)})
        lex = manifest["lexical"]
        self.store = MilvusStore(conn, weights=lex["weights"], lead_boost=lex["lead_boost"])
        self.vectors = MilvusVectors(conn, self.store, int(manifest["dimension"]))
        self._model = model
        self._embedder: Any = None if isinstance(model, str) else model
        self._staged: dict[tuple[str, int], PagePayload] = {}
        self.generation = int(conn.properties().get(GENERATION) or 1)  # as of opening or the last change
        conn.hnsw_ef = manifest.get("vector_index", {}).get("ef")

    @classmethod
    def open(cls, loc: Any, *, model: Any = None) -> MilvusIndex:
        """The index in `loc.collection`; IndexFormatError when missing or built otherwise."""
        hint = f"Build it with `edition-qa build --index '{loc.display}'`."
        conn = Connection(loc)
        if not conn.call("has_collection", loc.collection):
            raise IndexFormatError(f"No index at {loc.display} (no collection {loc.collection!r}). {hint}")
        manifest = conn.manifest()
        if not manifest or "lexical" not in manifest:
            raise IndexFormatError(f"Milvus collection {loc.collection!r} at {loc.display} is not an "
                                   "edition-qa index (no manifest property).")
        checks = [("format_version", MILVUS_FORMAT_VERSION, "format version"),
                  ("tokenizer_version", TOKENIZER_VERSION, "text segmentation version")]
        for key, want, what in checks:
            if manifest.get(key) != want:
                raise IndexFormatError(f"Index {loc.display} was built with {what} {manifest.get(key)}; "
                                       f"this edition-qa uses {want}. Rebuild it: `edition-qa build "
                                       f"--index '{loc.display}'`.")
        if manifest["lexical"].get("encoding") != LEXICAL["encoding"]:
            raise IndexFormatError(f"Index {loc.display} has lexical encoding "
                                   f"{manifest['lexical'].get('encoding')}, this edition-qa reads "
                                   f"{LEXICAL['encoding']}. {hint}")
        name = model if isinstance(model, str) else getattr(model, "model_id", None)
        if name is not None and not _same_model(name, str(manifest.get("model"))):
            raise IndexFormatError(f"Index {loc.display} was built with model {manifest.get('model')!r}, "
                                   f"not {name!r}. Rebuild it with `edition-qa build --index "
                                   f"'{loc.display}' --model {name}`.")
        dim = getattr(model, "dim", None)
        if dim is not None and int(dim) != int(manifest.get("dimension", -1)):
            raise IndexFormatError(f"Index {loc.display} holds {manifest.get('dimension')}-d vectors; "
                                   f"the model gives {dim}-d. {hint}")
        state = conn.call("get_load_state", loc.collection).get("state")
        if "Loaded" not in str(state):  # a restarted engine keeps collections released
            conn.call("load_collection", loc.collection, timeout=max(loc.timeout, 300.0))
        index = cls(loc, conn, manifest, model=model if model is not None else manifest["model"])
        index.warm()
        return index

    def warm(self) -> None:
        """The searches retrieval makes, once, allowed minutes: Milvus Lite builds its in-memory
        (BM25, scalar) indexes on the first search after a load, seconds per thousand rows."""
        self.conn.timeout = max(self.location.timeout, 300.0)
        try:
            expr = self.store.visible(PASSAGE)
            rows = self.conn.call("query", self.conn.name, filter=expr, output_fields=["body"], limit=1)
            term = (rows[0]["body"].split() or ["zq"])[0] if rows else "zq"  # a term it holds
            self.conn.bm25(term, expr, limit=110)
            self.store.passage_ids(article_id="")
            self.vectors.search(np.zeros(self.vectors.dim, np.float32), 1, ids=[0])
        finally:
            self.conn.timeout = None

    # -- the Index surface -----------------------------------------------------------------

    @property
    def embedder(self) -> Any:
        if self._embedder is None:
            self._embedder = _resolve_embedder(self._model)
        return self._embedder

    @property
    def model_id(self) -> str:
        return str(self.manifest.get("model"))

    def articles(self) -> list[Article]:
        return self.store.articles()

    def article(self, article_id: str) -> Article | None:
        return self.store.article(article_id)

    def __len__(self) -> int:
        return len(self.vectors)

    def add_articles(self, articles: Sequence[Article], *, progress: bool = False,
                     source: str = "", sha256: str = "") -> int:
        """Store and embed articles, replacing their edition pages atomically; returns how many embedded."""
        embedded = self.stage_articles(articles, progress=progress, source=source, sha256=sha256)
        self.publish()
        return embedded

    def stage_articles(self, articles: Sequence[Article], *, progress: bool = False,
                       source: str = "", sha256: str = "") -> int:
        """Embed articles and hold their edition pages until `publish` (a later staging of the same
        page replaces the earlier); returns how many passages were embedded."""
        from qa.editions.chunk import chunk_article, embedding_text

        chunk = self.settings["chunk"]
        pages: dict[tuple[str, int], list[Article]] = {}
        for a in articles:
            pages.setdefault((a.date, a.page), []).append(a)
        passages = {a.id: chunk_article(a, size=chunk["size"], overlap=chunk["overlap"]) for a in articles}
        every = [(a, p) for a in articles for p in passages[a.id]]
        kept: dict[int, np.ndarray] = {p.id: v for _, _, ps, vs in self._staged.values() for p, v in zip(ps, vs)}
        wanted = [p.id for _, p in every if p.id not in kept]
        for k in range(0, len(wanted), 1000):
            ids = wanted[k:k + 1000]
            expr = f"{self.store.visible(PASSAGE)} and pid in [{','.join(map(str, ids))}]"
            kept.update({int(r["pid"]): np.asarray(r["vector"], np.float32)
                         for r in self.conn.query_all(expr, ["pid", "vector"])})
        new = [(a, p) for a, p in every if p.id not in kept]
        if new:
            vecs = self.embedder.embed_passages([embedding_text(a, p) for a, p in new], progress=progress)
            kept.update(zip((p.id for _, p in new), vecs))
        added = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        for (date, page), arts in pages.items():
            ps = [p for a in arts for p in passages[a.id]]
            vs = np.array([kept[p.id] for p in ps], np.float32).reshape(len(ps), self.vectors.dim)
            self._staged[(date, int(page))] = ({"date": date, "page": int(page), "source": source,
                                                "sha256": sha256, "added": added}, arts, ps, vs)
        return len(new)

    def staged_passages(self, date: str, page: int) -> int:
        """How many passages the staged version of an edition page holds (0 when none is staged)."""
        staged = self._staged.get((date, int(page)))
        return len(staged[2]) if staged else 0

    def publish(self) -> int:
        """Make the staged pages visible, all in one step; returns the index's version after it."""
        if self._staged:
            self.generation = publish(self.conn, list(self._staged.values()), self.vectors.dim)
            self._staged.clear()
        return self.generation

    def add_edition(self, path: str | os.PathLike, *, date: str | None = None, page: int | None = None,
                    progress: bool = False) -> int:
        """Add (or replace) one edition file; embeds only passages not indexed yet."""
        from pathlib import Path

        from qa.editions.parse import load_edition

        path = Path(path)
        articles = load_edition(path, date=date, page=page)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        return self.add_articles(articles, progress=progress, source=path.name, sha256=digest)

    def remove_edition(self, date: str, page: int | None = None) -> int:
        """Remove an edition (all pages, or one) atomically; returns the number of passages removed."""
        n = len(self.store.passage_ids(date=date, page=page))
        self.generation = publish(self.conn, [], self.vectors.dim, remove=[(date, page)])
        return n

    def close(self) -> None:
        """Nothing to release: the client is shared by pymilvus per URI."""

