"""Reading a Milvus index: the `store` and `vectors` surfaces `qa.search.retrieve` uses.

Rows of one collection (see `qa.store.milvus`): kind 0 passages (text, BM25 fields, vector),
kind 1 article JSON in parts, kind 2 edition pages. Every read filters on `kind` and hides
the generations a writer has not published yet or has just retired, so a reader sees an edition
page before or after a change, never half of it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from qa.errors import InputError
from qa.store.lexical import query_terms
from qa.types import Article, Passage

__all__ = ["MilvusStore", "MilvusVectors", "encode_terms", "expr_str"]

PASSAGE, ARTICLE, EDITION = 0, 1, 2
_PLAIN = re.compile(r"^[a-z0-9]+$")
_FTS_TOKEN = re.compile(r"(?:[^\W_]|\.)+")
_BATCH = 1000  # ids per `in [...]` filter
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def encode_terms(terms: Iterable[str]) -> str:
    """Terms as text every Milvus tokenizer (standard, whitespace) splits back into the same terms.

    Each term is first cut as SQLite FTS5's unicode61 (tokenchars '.') cuts it, so both stores
    index the same units; then anything but plain [a-z0-9] (Chinese, decimals) is written as
    "zq" + UTF-8 hex, one ASCII word that no analyzer splits or changes. Plain words starting
    with "zq" are encoded too, so the mapping is one to one.
    """
    out = []
    for term in terms:
        for tok in _FTS_TOKEN.findall(term):
            out.append(tok if _PLAIN.match(tok) and not tok.startswith("zq") else "zq" + tok.encode().hex())
    return " ".join(out)


def expr_str(value: str) -> str:
    """A string literal for a Milvus filter expression."""
    return json.dumps(str(value), ensure_ascii=False)


def _iso_date(name: str, value: str) -> str:
    if not isinstance(value, str) or not _ISO_DATE.match(value):
        raise InputError(f"{name} must be a date (YYYY-MM-DD), not {value!r}")
    return value


def _ids_expr(ids: Sequence[int]) -> str:
    return f"pid in [{','.join(str(int(i)) for i in ids)}]"


class MilvusStore:
    """The read side of `qa.store.sqlite.Store`, answered by a Milvus collection."""

    # Milvus does not list the terms of its BM25 index, so English questions ask it for their
    # dictionary words without knowing which it holds, and names in pinyin are not looked up in
    # lexical search (`qa.language.translate.lexical_question`; dense search and the re-ranker
    # still match them).
    terms_from = None

    def __init__(self, conn: Any, *, weights: Sequence[float], lead_boost: float) -> None:
        self.conn = conn
        self.weights = tuple(float(w) for w in weights)
        self.lead_boost = float(lead_boost)

    # -- filters -------------------------------------------------------------------------

    def visible(self, kind: int, *, date: str | None = None, page: int | None = None,
                article_id: str | None = None, since: str | None = None, until: str | None = None) -> str:
        """The filter expression for published rows of `kind` within the filters: values are
        checked (dates as YYYY-MM-DD, pages as ints) and quoted, never spliced in as syntax."""
        clauses = [f"kind == {kind}"]
        hidden = self.conn.hidden()
        if hidden:
            clauses.append(f"gen not in [{','.join(str(g) for g in sorted(hidden))}]")
        if date is not None:
            clauses.append(f"date == {expr_str(date)}")
        if since is not None:  # ISO dates compare as strings, as in the SQLite store
            clauses.append(f"date >= {expr_str(_iso_date('since', since))}")
        if until is not None:
            clauses.append(f"date <= {expr_str(_iso_date('until', until))}")
        if page is not None:
            clauses.append(f"page == {int(page)}")
        if article_id is not None:
            clauses.append(f"article_id == {expr_str(article_id)}")
        return " and ".join(clauses)

    # -- reading -------------------------------------------------------------------------

    def editions(self) -> list[Any]:
        from qa.store.sqlite import Edition

        rows = self.conn.query_all(self.visible(EDITION), ["text"])
        eds = [Edition(**json.loads(r["text"])) for r in rows]
        return sorted(eds, key=lambda e: (e.date, e.page))

    def _article_rows(self, expr: str) -> list[Article]:
        rows = self.conn.query_all(expr, ["article_id", "date", "page", "position", "start", "text"])
        parts: dict[str, list[Any]] = {}
        for r in rows:
            parts.setdefault(r["article_id"], []).append(r)
        out = []
        for rs in parts.values():
            rs.sort(key=lambda r: r["start"])
            out.append(((rs[0]["date"], rs[0]["page"], rs[0]["position"]),
                        Article.from_dict(json.loads("".join(r["text"] for r in rs)))))
        return [a for _, a in sorted(out, key=lambda t: t[0])]

    def articles(self, *, date: str | None = None, page: int | None = None) -> list[Article]:
        """Articles in printed order (by date, page, position), optionally of one date / page."""
        return self._article_rows(self.visible(ARTICLE, date=date, page=page))

    def article(self, article_id: str) -> Article | None:
        got = self._article_rows(self.visible(ARTICLE, article_id=article_id))
        return got[0] if got else None

    def passages(self, ids: Iterable[int]) -> list[Passage]:
        """Passages with these ids, in the order given; unknown ids are skipped."""
        ids = [int(i) for i in ids]
        found: dict[int, Passage] = {}
        base = self.visible(PASSAGE)
        for k in range(0, len(ids), _BATCH):
            chunk = ids[k:k + _BATCH]
            for r in self.conn.query_all(f"{base} and {_ids_expr(chunk)}",
                                         ["pid", "article_id", "start", "end", "text"]):
                found[int(r["pid"])] = Passage(int(r["pid"]), r["article_id"], int(r["start"]),
                                               int(r["end"]), r["text"])
        return [found[i] for i in ids if i in found]

    def passage(self, passage_id: int) -> Passage | None:
        got = self.passages([passage_id])
        return got[0] if got else None

    def passage_ids(self, *, date: str | None = None, page: int | None = None,
                    article_id: str | None = None, since: str | None = None,
                    until: str | None = None) -> list[int]:
        """Ids of the passages matching the filters (all when none), in printed order."""
        expr = self.visible(PASSAGE, date=date, page=page, article_id=article_id, since=since, until=until)
        rows = self.conn.query_all(expr, ["pid", "date", "page", "position", "start"])
        rows.sort(key=lambda r: (r["date"], r["page"], r["position"], r["start"], r["pid"]))
        return [int(r["pid"]) for r in rows]

    def edition_counts(self) -> dict[tuple[str, int], tuple[int, int]]:
        """(date, page) -> (articles, passages) of every edition page."""
        out: dict[tuple[str, int], list[int]] = {}
        for kind, slot in ((ARTICLE, 0), (PASSAGE, 1)):
            expr = self.visible(kind) + (" and start == 0" if kind == ARTICLE else "")  # an article's first part
            for r in self.conn.query_all(expr, ["date", "page"]):
                out.setdefault((r["date"], int(r["page"])), [0, 0])[slot] += 1
        return {k: (v[0], v[1]) for k, v in out.items()}

    def counts(self) -> dict[str, int]:
        return {name: self.conn.count(self.visible(kind)) if kind != ARTICLE
                else len({r["article_id"] for r in self.conn.query_all(self.visible(ARTICLE), ["article_id"])})
                for name, kind in (("editions", EDITION), ("articles", ARTICLE), ("passages", PASSAGE))}

    # -- search --------------------------------------------------------------------------

    def search(self, query: str, *, limit: int = 50, date: str | None = None, page: int | None = None,
               article_id: str | None = None, since: str | None = None, until: str | None = None,
               weights: Sequence[float] | None = None,
               lead_boost: float | None = None) -> list[tuple[int, float]]:
        """Milvus BM25 over the passage terms plus the headline terms repeated by its weight.

        (passage id, score) best first; an article's first passage gets `lead_boost` as in
        the SQLite store. A question without terms finds nothing. The column weights are
        written into the indexed text when the index is built, so `weights` is not used here.
        """
        lead = float(self.lead_boost if lead_boost is None else lead_boost)
        text = encode_terms(query_terms(query)) if isinstance(query, str) else ""
        if not text or limit <= 0:
            return []
        expr = self.visible(PASSAGE, date=date, page=page, article_id=article_id, since=since, until=until)
        # Fetch beyond `limit`: the lead boost can lift a passage from just below the cut.
        rows = self.conn.bm25(text, expr, limit=int(limit) * 2 + 10)
        scored = [(int(pid), score * (lead if start == 0 else 1.0)) for pid, start, score in rows]
        scored.sort(key=lambda t: (-t[1], t[0]))
        return scored[:int(limit)]


class MilvusVectors:
    """The read side of `qa.store.vectors.Vectors` over the collection's dense field."""

    takes_filters = True  # `search` takes date/page/article filters as expressions, not id lists

    def __init__(self, conn: Any, store: MilvusStore, dim: int) -> None:
        self.conn = conn
        self.store = store
        self.dim = int(dim)

    def __len__(self) -> int:
        return self.conn.count(self.store.visible(PASSAGE))

    def ids(self) -> np.ndarray:
        rows = self.conn.query_all(self.store.visible(PASSAGE), ["pid"])
        return np.array(sorted(int(r["pid"]) for r in rows), dtype=np.int64)

    def vectors(self, ids: Sequence[int]) -> np.ndarray:
        """The stored vectors of `ids` (each must be present: KeyError otherwise)."""
        ids = [int(i) for i in ids]
        found: dict[int, Any] = {}
        base = self.store.visible(PASSAGE)
        for k in range(0, len(ids), _BATCH):
            for r in self.conn.query_all(f"{base} and {_ids_expr(ids[k:k + _BATCH])}", ["pid", "vector"]):
                found[int(r["pid"])] = r["vector"]
        missing = [i for i in ids if i not in found]
        if missing:
            raise KeyError(f"passage vectors not in the index: {missing[:5]}")
        out = np.empty((len(ids), self.dim), dtype=np.float32)
        for row, pid in enumerate(ids):
            out[row] = np.asarray(found[pid], dtype=np.float32)
        return out

    def get(self, ids: Sequence[int]) -> np.ndarray | None:
        try:
            return self.vectors(ids)
        except KeyError:
            return None

    def search(self, query: np.ndarray, k: int, *, ids: Sequence[int] | None = None,
               date: str | None = None, page: int | None = None, article_id: str | None = None,
               since: str | None = None, until: str | None = None) -> list[tuple[int, float]]:
        """Top `k` (id, inner product), best first, within the filters (scalar filter expressions);
        `ids` restricts the search to those passages too."""
        if k <= 0 or (ids is not None and len(ids) == 0):
            return []
        expr = self.store.visible(PASSAGE, date=date, page=page, article_id=article_id, since=since,
                                  until=until)
        if ids is not None:
            expr += f" and {_ids_expr(ids)}"
        q = np.asarray(query, dtype=np.float32).reshape(-1).tolist()
        return self.conn.dense(q, expr, limit=int(k))
