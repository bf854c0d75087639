"""One Milvus connection for one index: every call bounded by a timeout, errors made one line.

pymilvus and milvus-lite are optional (`pip install edition-qa[milvus]`) and imported here,
lazily. The collection name an index is opened by is an alias; the physical collection behind
it is swapped atomically when an index is rebuilt or copied in.
"""

from __future__ import annotations

import json
import os
from typing import Any

from qa.errors import InputError, StoreUnavailableError

__all__ = ["Connection", "milvus_client"]

GENERATION = "edition_qa.generation"  # versions of the index: 1 when built, +1 a change
HIDDEN = "edition_qa.hidden"
MANIFEST = "edition_qa.manifest"
NEXT_GEN = "edition_qa.next_gen"


def _pymilvus() -> Any:
    try:
        import pymilvus
    except ImportError:
        raise InputError("Milvus index locations need pymilvus and milvus-lite: "
                         "pip install 'edition-qa[milvus]'") from None
    return pymilvus


def _client_errors() -> tuple[type[BaseException], ...]:
    """What pymilvus raises for a failed call: its own errors, gRPC's, and socket-level ones."""
    import grpc
    from pymilvus.exceptions import MilvusException

    return (MilvusException, grpc.RpcError, ConnectionError, TimeoutError, OSError)


def _one_line(exc: BaseException) -> str:
    code, details = getattr(exc, "code", None), getattr(exc, "details", None)
    if callable(code) and callable(details):  # a grpc.RpcError: its status, not its repr
        return f"{getattr(code(), 'name', code())}: {details()}"
    text = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    lines = str(text).strip().splitlines()
    return lines[0][:300] if lines else type(exc).__name__


def milvus_client(loc: Any) -> Any:
    """A MilvusClient for a Location (a Milvus Lite path starts its in-process engine)."""
    pymilvus = _pymilvus()
    if loc.kind == "lite":
        path = os.path.abspath(loc.target)
        if os.path.isfile(path):
            raise InputError(f"{loc.target} is a file; Milvus Lite keeps its data in a .db folder.")
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        kwargs: dict[str, Any] = {"uri": path}
    else:
        kwargs = {"uri": loc.target, "token": loc.token, "db_name": loc.db}
    try:
        return pymilvus.MilvusClient(timeout=loc.timeout, **kwargs)
    except _client_errors() as exc:
        raise StoreUnavailableError(f"Cannot reach Milvus at {loc.display} within {loc.timeout:g} s "
                                    f"({_one_line(exc)}).") from None


class Connection:
    """Calls on one collection (by alias or name), with a timeout and one-line errors."""

    def __init__(self, loc: Any, client: Any | None = None, *, name: str | None = None) -> None:
        self.loc = loc
        self.client = client if client is not None else milvus_client(loc)
        self.name = name or loc.collection
        self.hnsw_ef: int | None = None
        self.timeout: float | None = None  # overrides loc.timeout (warming up after a load)

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", self.timeout or self.loc.timeout)
        try:
            return getattr(self.client, method)(*args, **kwargs)
        except _client_errors() as exc:
            raise StoreUnavailableError(f"Milvus at {self.loc.display}: {method} failed "
                                        f"({_one_line(exc)}).") from None

    # -- properties ----------------------------------------------------------------------

    def properties(self) -> dict[str, str]:
        info = self.call("describe_collection", self.name)
        return dict(info.get("properties") or {})

    def set_properties(self, **props: str) -> None:
        self.call("alter_collection_properties", self.name, properties=props)

    def hidden(self) -> set[int]:
        """Generations readers must not see (being written, or retired and being deleted)."""
        raw = self.properties().get(HIDDEN) or "[]"
        return {int(g) for g in json.loads(raw)}

    def manifest(self) -> dict[str, Any]:
        return json.loads(self.properties().get(MANIFEST) or "{}")

    # -- rows ----------------------------------------------------------------------------

    def query_all(self, expr: str, fields: list[str]) -> list[dict[str, Any]]:
        """Every row matching `expr` (paged, so beyond Milvus's 16,384-row query window)."""
        out: list[dict[str, Any]] = []
        page, offset = 16384, 0
        while True:
            rows = self.call("query", self.name, filter=expr, output_fields=fields,
                             limit=page, offset=offset)
            out.extend(dict(r) for r in rows)
            if len(rows) < page:
                return out
            offset += page

    def count(self, expr: str) -> int:
        rows = self.call("query", self.name, filter=expr, output_fields=["count(*)"])
        return int(rows[0]["count(*)"]) if rows else 0

    def insert(self, rows: list[dict[str, Any]]) -> None:
        for k in range(0, len(rows), 500):
            self.call("insert", self.name, rows[k:k + 500])

    def delete(self, expr: str) -> None:
        self.call("delete", self.name, filter=expr)

    # -- search --------------------------------------------------------------------------

    def dense(self, vector: list[float], expr: str, *, limit: int) -> list[tuple[int, float]]:
        params: dict[str, Any] = {"metric_type": "IP"}
        if self.hnsw_ef:
            params["params"] = {"ef": max(self.hnsw_ef, limit)}
        res = self.call("search", self.name, data=[vector], anns_field="vector", limit=limit,
                        filter=expr, output_fields=["pid"], search_params=params)
        return [(int(h["entity"]["pid"]), float(h["distance"])) for h in res[0]]

    def bm25(self, text: str, expr: str, *, limit: int) -> list[tuple[int, int, float]]:
        """(passage id, start, BM25 score) from the body BM25 field (headline terms included)."""
        res = self.call("search", self.name, data=[text], anns_field="body_bm25", limit=limit, filter=expr,
                        output_fields=["pid", "start"], search_params={"metric_type": "BM25"})
        # BM25 scores are positive; Milvus Lite reports them negated, as distances.
        return [(int(h["entity"]["pid"]), int(h["entity"]["start"]), abs(float(h["distance"])))
                for h in res[0]]
