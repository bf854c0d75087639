"""Writing a Milvus index: the collection's schema and indexes, the rows of an edition page, and
the atomic publication of page changes (see `qa.store.milvus` for the layout).

Each edition page written gets a new generation number. Readers filter out the generations
listed in the `edition_qa.hidden` property; a change inserts its rows hidden, then one property
write shows them, hides the pages' old generations and counts a new version of the index
(`edition_qa.generation`); the old rows are then deleted.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from qa.errors import InputError
from qa.store.milvus_conn import GENERATION, HIDDEN, MANIFEST, NEXT_GEN, Connection
from qa.store.milvus_read import ARTICLE, EDITION, PASSAGE, encode_terms, expr_str
from qa.store.sqlite import DEFAULT_LEAD_BOOST, DEFAULT_WEIGHTS
from qa.text import tokenize
from qa.types import Article, Passage

__all__ = ["HNSW_FROM", "LEXICAL", "PagePayload", "create_collection", "publish", "vector_index"]

# How the lexical side is built; recorded in the manifest and checked on open.
LEXICAL = {"encoding": 1, "analyzer": {"tokenizer": "standard"}, "bm25_k1": 1.2, "bm25_b": 0.75,
           "weights": list(DEFAULT_WEIGHTS), "lead_boost": DEFAULT_LEAD_BOOST}
HNSW_FROM = 100_000  # passages; below it exact search (FLAT) is fast and matches FAISS exactly
_TEXT_MAX = 65535    # bytes, Milvus's VARCHAR limit
_PART = 16000        # characters of article JSON per row (at most 4 bytes each)

# One edition page to write: its edition record (date, page, source, sha256, added), its
# articles in printed order, their passages and the passages' vectors (one row each).
PagePayload = tuple[dict[str, Any], Sequence[Article], Sequence[Passage], np.ndarray]


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


def vector_index(passages: int) -> dict[str, Any]:
    """The dense index for this many passages: exact (FLAT) below HNSW_FROM, HNSW above."""
    if passages < HNSW_FROM:
        return {"index_type": "FLAT", "params": {}}
    return {"index_type": "HNSW", "params": {"M": 16, "efConstruction": 200}, "ef": 128}


def create_collection(loc: Any, client: Any, name: str, manifest: dict[str, Any]) -> Connection:
    """A new, empty index collection `name` holding `manifest` (version 1, no pages)."""
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
              properties={MANIFEST: json.dumps(manifest, ensure_ascii=False), HIDDEN: "[]", NEXT_GEN: "1",
                          GENERATION: "1"})
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


def publish(conn: Connection, pages: Sequence[PagePayload], dim: int, *,
            remove: Sequence[tuple[str, int | None]] = (), new_version: bool = True) -> int:
    """Write edition pages (replacing those stored) and remove others, visible in one step.

    Each (date, page) should appear once in `pages`. `new_version` counts the change as a new
    version of the index (a build filling a new collection in parts does not). Returns the
    index's version (`edition_qa.generation`) after the change.
    """
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
    version = int(props.get(GENERATION) or 1) + (1 if new_version else 0)
    conn.set_properties(**{HIDDEN: json.dumps(sorted(hidden | old)), GENERATION: str(version)})  # the flip
    if old:
        conn.delete(f"gen in [{','.join(str(g) for g in sorted(old))}]")
    conn.set_properties(**{HIDDEN: json.dumps(sorted(hidden))})
    return version


