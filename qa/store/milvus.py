"""An index in one Milvus collection: the same `store` / `vectors` surface as the folder index.

Schema (one row per passage, article part or edition page; `kind` tells them apart):
key (VARCHAR primary key: kind, id and generation), kind, gen, pid, article_id, date, page,
position (article in printed order), start / end (passage offsets, or article part number),
text (passage text, article or edition JSON), body and headline (the project's own jieba terms,
encoded so that Milvus's analyzer yields exactly those terms; see `encode_terms`), body_bm25 and
headline_bm25 (sparse vectors made by Milvus BM25 functions from them), vector (the passage
embedding; zeros for other rows). The collection properties hold the manifest (model,
dimension, prompts, chunk, fusion, segmentation and lexical settings); `open` refuses a mismatch.

Atomic changes: each edition page written gets a new generation number. Readers filter out
the generations listed in the `edition_qa.hidden` property; a change inserts its rows hidden,
then one property write shows them and hides the page's old generation, which is then
deleted. A rebuild or copy fills a new physical collection and swaps the alias to it.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from qa.errors import IndexFormatError, InputError
from qa.store.index import (
    FORMAT_VERSION,
    _resolve_embedder,
    _same_model,
    merge_settings,
)
from qa.store.milvus_conn import HIDDEN, MANIFEST, NEXT_GEN, Connection, milvus_client
from qa.store.milvus_read import (
    ARTICLE,
    EDITION,
    PASSAGE,
    MilvusStore,
    MilvusVectors,
    encode_terms,
    expr_str,
)
from qa.store.sqlite import DEFAULT_LEAD_BOOST, DEFAULT_WEIGHTS
from qa.text import TOKENIZER_VERSION, tokenize
from qa.types import Article, Passage

__all__ = ["LEXICAL", "MilvusIndex", "to_local", "write_milvus"]

# How the lexical side is built; recorded in the manifest and checked on open.
LEXICAL = {"encoding": 1, "analyzer": {"tokenizer": "standard"}, "bm25_k1": 1.2, "bm25_b": 0.75,
           "weights": list(DEFAULT_WEIGHTS), "lead_boost": DEFAULT_LEAD_BOOST}
HNSW_FROM = 100_000  # passages; below it exact search (FLAT) is fast and matches FAISS exactly
_TEXT_MAX = 65535    # bytes, Milvus's VARCHAR limit
_PART = 16000        # characters of article JSON per row (at most 4 bytes each)


def _schema(pymilvus: Any, client: Any, dim: int) -> Any:
    dt = pymilvus.DataType
    s = client.create_schema(auto_id=False, enable_dynamic_field=False)
    s.add_field("key", dt.VARCHAR, is_primary=True, max_length=512)
    s.add_field("kind", dt.INT8)
    s.add_field("gen", dt.INT64)
    s.add_field("pid", dt.INT64)
    s.add_field("article_id", dt.VARCHAR, max_length=512)
    s.add_field("date", dt.VARCHAR, max_length=32)
    for name in ("page", "position", "start", "end"):
        s.add_field(name, dt.INT64)
    s.add_field("text", dt.VARCHAR, max_length=_TEXT_MAX)
    for name in ("body", "headline"):
        s.add_field(name, dt.VARCHAR, max_length=_TEXT_MAX, enable_analyzer=True,
                    analyzer_params=LEXICAL["analyzer"])
        s.add_field(f"{name}_bm25", dt.SPARSE_FLOAT_VECTOR)
        s.add_function(pymilvus.Function(name=f"{name}_bm25_fn", function_type=pymilvus.FunctionType.BM25,
                                         input_field_names=[name], output_field_names=[f"{name}_bm25"]))
    s.add_field("vector", dt.FLOAT_VECTOR, dim=dim)
    return s


def _vector_index(passages: int) -> dict[str, Any]:
    if passages < HNSW_FROM:
        return {"index_type": "FLAT", "params": {}}
    return {"index_type": "HNSW", "params": {"M": 16, "efConstruction": 200}, "ef": 128}


def _create(loc: Any, client: Any, name: str, manifest: dict[str, Any]) -> Connection:
    from qa.store.milvus_conn import _pymilvus

    pymilvus = _pymilvus()
    conn = Connection(loc, client, name=name)
    vi = manifest["vector_index"]
    params = client.prepare_index_params()
    params.add_index("vector", index_type=vi["index_type"], metric_type="IP", params=vi["params"])
    for field in ("kind", "gen", "pid", "article_id", "date", "page"):  # the filter fields
        params.add_index(field, index_type="INVERTED")
    for field in ("body_bm25", "headline_bm25"):
        params.add_index(field, index_type="SPARSE_INVERTED_INDEX", metric_type="BM25",
                         params={"bm25_k1": LEXICAL["bm25_k1"], "bm25_b": LEXICAL["bm25_b"]})
    conn.call("create_collection", name, schema=_schema(pymilvus, client, int(manifest["dimension"])),
              index_params=params, consistency_level="Strong",
              properties={MANIFEST: json.dumps(manifest, ensure_ascii=False), HIDDEN: "[]", NEXT_GEN: "1"})
    return conn


def _fit(text: str) -> str:
    """Encoded terms cut (at a term) to the VARCHAR limit; only a passage of ~9,000 chars gets there."""
    if len(text.encode()) <= _TEXT_MAX:
        return text
    return text.encode()[:_TEXT_MAX].decode(errors="ignore").rsplit(" ", 1)[0]


def _lexical_text(body: str, headline: list[str]) -> str:
    """What the searched BM25 field holds: the passage's terms, then the headline's repeated
    `weights[1]` times, so one BM25 adds them up as FTS5's weighted bm25 does (BM25F: one
    saturation and one idf per term). Two BM25 fields summed with a WeightedRanker instead
    let a headline match swamp the body (CMRC lexical R@1 0.835 against FTS5's 0.93)."""
    return _fit(encode_terms(tokenize(body) + headline * int(LEXICAL["weights"][1])))


def _page_rows(gen: int, edition: dict[str, Any], articles: Sequence[Article], passages: Sequence[Passage],
               vecs: np.ndarray, dim: int) -> list[dict[str, Any]]:
    from qa.editions.chunk import headline_text

    date, page = edition["date"], int(edition["page"])
    zero = [0.0] * dim
    base = {"gen": gen, "date": date, "page": page, "body": "", "headline": "", "vector": zero}
    rows = [{**base, "key": f"e:{date}:{page}:{gen}", "kind": EDITION, "pid": 0, "article_id": "",
             "position": 0, "start": 0, "end": 0, "text": json.dumps(edition, ensure_ascii=False)}]
    pos = {a.id: i for i, a in enumerate(articles)}
    heads = {a.id: tokenize(headline_text(a)) for a in articles}
    for a in articles:
        blob = json.dumps(a.to_dict(), ensure_ascii=False)
        for part in range(0, max(len(blob), 1), _PART):
            rows.append({**base, "key": f"a:{a.id}:{part // _PART}:{gen}", "kind": ARTICLE, "pid": 0,
                         "article_id": a.id, "position": pos[a.id], "start": part // _PART, "end": 0,
                         "text": blob[part:part + _PART]})
    for p, v in zip(passages, vecs):
        if len(p.text.encode()) > _TEXT_MAX:
            raise InputError(f"passage {p.id} is over {_TEXT_MAX} bytes; Milvus cannot hold it. "
                             "Build with a smaller chunk size.")
        rows.append({**base, "key": f"p:{p.id}:{gen}", "kind": PASSAGE, "pid": int(p.id),
                     "article_id": p.article_id, "position": pos[p.article_id], "start": int(p.start),
                     "end": int(p.end), "text": p.text, "body": _lexical_text(p.text, heads[p.article_id]),
                     "headline": _fit(encode_terms(heads[p.article_id])), "vector": [float(x) for x in v]})
    return rows


def _page_gens(conn: Connection, date: str, page: int | None, skip: set[int]) -> set[int]:
    expr = f"kind == {EDITION} and date == {expr_str(date)}" + ("" if page is None else f" and page == {int(page)}")
    return {int(r["gen"]) for r in conn.query_all(expr, ["gen"])} - skip


def _publish(conn: Connection, pages: list[tuple[dict, Sequence[Article], Sequence[Passage], np.ndarray]],
             dim: int, *, remove: Sequence[tuple[str, int | None]] = ()) -> None:
    """Write edition pages (replacing those stored) and remove others, visible in one step."""
    props = conn.properties()
    hidden = {int(g) for g in json.loads(props.get(HIDDEN) or "[]")}
    first = int(props.get(NEXT_GEN) or 1)
    gens = set(range(first, first + len(pages)))
    conn.set_properties(**{NEXT_GEN: str(first + len(pages)), HIDDEN: json.dumps(sorted(hidden | gens))})
    rows = [r for gen, (ed, arts, ps, vs) in zip(sorted(gens), pages) for r in _page_rows(gen, ed, arts, ps, vs, dim)]
    conn.insert(rows)
    old: set[int] = set()
    for ed, *_ in pages:
        old |= _page_gens(conn, ed["date"], int(ed["page"]), hidden | gens)
    for date, page in remove:
        old |= _page_gens(conn, date, page, hidden | gens)
    conn.set_properties(**{HIDDEN: json.dumps(sorted(hidden | old))})  # the flip
    if old:
        conn.delete(f"gen in [{','.join(str(g) for g in sorted(old))}]")
    conn.set_properties(**{HIDDEN: json.dumps(sorted(hidden))})


def _source_pages(index: Any) -> Any:
    """(edition dict, articles, passages, vectors) of every page of a folder or Milvus index."""
    for ed in index.store.editions():
        arts = index.store.articles(date=ed.date, page=ed.page)
        pids = index.store.passage_ids(date=ed.date, page=ed.page)
        vecs = index.vectors.vectors(pids) if pids else np.zeros((0, index.vectors.dim), np.float32)
        yield dict(ed._asdict()), arts, index.store.passages(pids), vecs


def _manifest_of(index: Any) -> dict[str, Any]:
    m = dict(index.manifest or {})
    if not m and hasattr(index, "_touch"):
        index._touch()
        m = dict(index.manifest)
    keep = ("format_version", "tokenizer_version", "package_version", "model", "dimension", "prompts",
            "chunk", "fusion")
    return {k: m[k] for k in keep if k in m}


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
                "vector_index": _vector_index(len(index.vectors))}
    physical = f"{alias}__{time.time_ns()}"
    conn = _create(loc, client, physical, manifest)
    try:
        pages = list(_source_pages(index))
        for k in tqdm(range(0, len(pages), 20), disable=not progress, desc="milvus", unit="page", unit_scale=20):
            _publish(conn, pages[k:k + 20], int(manifest["dimension"]))
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
        checks = [("format_version", FORMAT_VERSION, "format version"),
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
        from qa.editions.chunk import chunk_article, embedding_text

        chunk = self.settings["chunk"]
        pages: dict[tuple[str, int], list[Article]] = {}
        for a in articles:
            pages.setdefault((a.date, a.page), []).append(a)
        passages = {a.id: chunk_article(a, size=chunk["size"], overlap=chunk["overlap"]) for a in articles}
        every = [(a, p) for a in articles for p in passages[a.id]]
        kept: dict[int, np.ndarray] = {}
        for k in range(0, len(every), 1000):
            ids = [p.id for _, p in every[k:k + 1000]]
            expr = f"{self.store.visible(PASSAGE)} and pid in [{','.join(map(str, ids))}]"
            kept.update({int(r["pid"]): np.asarray(r["vector"], np.float32)
                         for r in self.conn.query_all(expr, ["pid", "vector"])})
        new = [(a, p) for a, p in every if p.id not in kept]
        if new:
            vecs = self.embedder.embed_passages([embedding_text(a, p) for a, p in new], progress=progress)
            kept.update(zip((p.id for _, p in new), vecs))
        added = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        payload = []
        for (date, page), arts in pages.items():
            ps = [p for a in arts for p in passages[a.id]]
            vs = np.array([kept[p.id] for p in ps], np.float32).reshape(len(ps), self.vectors.dim)
            payload.append(({"date": date, "page": int(page), "source": source, "sha256": sha256,
                             "added": added}, arts, ps, vs))
        _publish(self.conn, payload, self.vectors.dim)
        return len(new)

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
        _publish(self.conn, [], self.vectors.dim, remove=[(date, page)])
        return n

    def close(self) -> None:
        """Nothing to release: the client is shared by pymilvus per URI."""

