"""The SQLite store's schema (format 2), how rows map to the project's types, and the SQL of
lexical search (see `qa.store.sqlite.Store`)."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import Sequence
from typing import NamedTuple

from qa.errors import QAError
from qa.store.lexical import MAX_SCORED_ROWS, capped_query, fts_query, query_terms
from qa.types import Article

__all__ = ["DEFAULT_LEAD_BOOST", "DEFAULT_WEIGHTS", "SCHEMA", "SCHEMA_VERSION", "TABLES", "TEXT", "Edition",
           "StaleSnapshotError", "affordable", "article_json", "article_row", "indexed_terms", "search_large",
           "where_clause"]

SCHEMA_VERSION = 2
# bm25() weights of the FTS columns (body, headline), measured with lexical search alone on
# CMRC 2018 dev (250-char passages, lead boost 1.1: passage R@1 0.935 at headline 4, 0.938
# at 6, 0.942 at 8) and on the sample edition (flat from 1 to 12). Gains flatten past 6, and a
# heavier headline would let one matching headline outrank better passages elsewhere.
# CJK character bigrams as a third column lowered R@1 (0.899 -> 0.868), so none are indexed.
DEFAULT_WEIGHTS: tuple[float, float] = (1.0, 6.0)
# Factor on the score of an article's first passage: leads carry the key facts (news puts
# them first; encyclopedia sections open with the definition). CMRC R@1 0.884 -> 0.935 at
# 1.1 (1.2 is worse), sample edition Chinese questions 0.95 -> 0.98.
DEFAULT_LEAD_BOOST = 1.1

SCHEMA = f"""
CREATE TABLE editions (
    date TEXT NOT NULL, page INTEGER NOT NULL, source TEXT NOT NULL DEFAULT '',
    sha256 TEXT NOT NULL DEFAULT '', added TEXT NOT NULL, PRIMARY KEY (date, page));
-- json: the article's other fields, compact, defaults left out.
CREATE TABLE articles (
    id TEXT PRIMARY KEY, date TEXT NOT NULL, page INTEGER NOT NULL,
    position INTEGER NOT NULL, body TEXT NOT NULL, json TEXT NOT NULL);
CREATE INDEX articles_edition ON articles (date, page, position);
-- text: NULL when the passage is its article's body[start:end] (always, for the chunker's).
CREATE TABLE passages (
    id INTEGER PRIMARY KEY, article_id TEXT NOT NULL REFERENCES articles (id),
    start INTEGER NOT NULL, "end" INTEGER NOT NULL, text TEXT);
CREATE INDEX passages_article ON passages (article_id, start);
-- Terms are pre-segmented; "." stays inside a term so decimals like 4.78 survive.
CREATE VIRTUAL TABLE passages_fts USING fts5 (
    body, headline, content = '', detail = full,
    tokenize = "unicode61 remove_diacritics 0 tokenchars '.'");
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
PRAGMA user_version = {SCHEMA_VERSION};
"""
TEXT = 'coalesce(p.text, substr(a.body, p.start + 1, p."end" - p.start))'
_DEFAULTS = {f.name: f.default for f in dataclasses.fields(Article)}


def article_json(a: Article) -> str:
    """The fields of `a` not held in columns, compact, without the ones at their default."""
    d = {k: v for k, v in a.to_dict().items()
         if k not in ("id", "date", "page", "body", "title") and v not in ("", (), [], None) and v != _DEFAULTS.get(k)}
    return json.dumps(d, ensure_ascii=False, separators=(",", ":"))


def article_row(row: Sequence[object]) -> Article:
    """An Article from (id, date, page, body, json)."""
    return Article.from_dict({**json.loads(str(row[4])), "id": row[0], "date": row[1], "page": row[2],
                              "body": row[3]})


class StaleSnapshotError(QAError):
    """A snapshot store was changed by another writer since it was opened."""
TABLES = {"editions", "articles", "passages", "passages_fts", "meta"}


class Edition(NamedTuple):
    """One edition page held by the store."""

    date: str
    page: int
    source: str
    sha256: str
    added: str  # ISO UTC time it was added


def where_clause(
    *, date: str | None = None, page: int | None = None, article_id: str | None = None, alias: str = "a.",
    since: str | None = None, until: str | None = None,
) -> tuple[str, list[object]]:
    """A WHERE clause over the articles (or editions) columns and its parameters;
    `since`/`until` are inclusive ISO dates (ISO dates compare as strings)."""
    clauses, args = ["1"], []
    if date is not None:
        clauses.append(f"{alias}date = ?")
        args.append(date)
    if since is not None:
        clauses.append(f"{alias}date >= ?")
        args.append(since)
    if until is not None:
        clauses.append(f"{alias}date <= ?")
        args.append(until)
    if page is not None:
        clauses.append(f"{alias}page = ?")
        args.append(int(page))
    if article_id is not None:
        clauses.append(f"{alias}id = ?")
        args.append(article_id)
    return " AND ".join(clauses), args


_VOCAB = "CREATE VIRTUAL TABLE IF NOT EXISTS temp.passages_vocab USING fts5vocab(main, passages_fts, row)"


def affordable(conn: sqlite3.Connection, query: str, rows: int) -> tuple[str, bool]:
    """`fts_query(query)`, without its most common terms when they would cost too much; and
    whether the store is large (past MAX_SCORED_ROWS of its `rows` passages)."""
    match = fts_query(query)
    if not match or rows <= MAX_SCORED_ROWS:
        return match, False
    conn.execute(_VOCAB)
    terms = query_terms(query)
    df = {}
    for t in terms:  # one indexed lookup a term (an IN list scans the whole vocabulary)
        row = conn.execute("SELECT doc FROM temp.passages_vocab WHERE term = ?", (t,)).fetchone()
        if row:
            df[t] = row[0]
    return capped_query(terms, df, MAX_SCORED_ROWS), True


def indexed_terms(conn: sqlite3.Connection, prefix: str, limit: int) -> list[str]:
    """The lexical index's terms that start with `prefix`, in term order, at most `limit`."""
    if not prefix:
        return []
    conn.execute(_VOCAB)
    end = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    rows = conn.execute("SELECT term FROM temp.passages_vocab WHERE term >= ? AND term < ? LIMIT ?",
                        (prefix, end, int(limit)))
    return [r[0] for r in rows]


def search_large(conn: sqlite3.Connection, match: str, w: tuple[float, ...], lead: float,
                 limit: int) -> list[tuple[int, float]]:
    """Unfiltered search of a large store: FTS5 alone ranks the matched rows (joining every one to
    its passage cost as much as scoring it), then the lead boost re-orders the best of them. Exact:
    rows are read from the one ranked query until none left could reach the top `limit` boosted."""
    cur = conn.execute("SELECT rowid, bm25(passages_fts, ?, ?) AS s FROM passages_fts "
                       "WHERE passages_fts MATCH ? ORDER BY s, rowid", [*w, match])
    rows: list[tuple[int, float]] = []
    leads: set[int] = set()
    want = 2 * limit
    try:
        while True:
            more = cur.fetchmany(want - len(rows))
            for k in range(0, len(more), 500):  # SQLite's bound-parameter limit
                ids = [r[0] for r in more[k:k + 500]]
                leads.update(r[0] for r in conn.execute(
                    f"SELECT id FROM passages WHERE start = 0 AND id IN ({','.join('?' * len(ids))})", ids))
            rows += more
            scored = sorted((s * (lead if i in leads else 1.0), i) for i, s in rows)[:limit]
            # bm25() is negative, lower is better: a row not read yet scores at best
            # last * max(lead, 1), which must be worse than the `limit`-th kept.
            if len(rows) < want or len(scored) < limit or rows[-1][1] * max(lead, 1.0) > scored[-1][0]:
                return [(i, -s) for s, i in scored]
            want *= 4
    finally:
        cur.close()
