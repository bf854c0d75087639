"""SQLite store: editions, articles, passages, and an FTS5 index over segmented text.

FTS5 cannot segment Chinese, so the indexed columns hold `qa.store.lexical.segment` terms
joined by spaces and the FTS tokenizer only splits on them. Questions go through the same
tokenizer, and `fts_query` quotes every term, so no question text is ever FTS5 syntax.

Threads: one connection (`check_same_thread=False`) serialized by a lock. Every call is
short (milliseconds on an edition), so readers queue rather than contend; SQLite WAL mode
still lets another process read while this one writes.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple
from urllib.parse import quote

from qa.editions.chunk import headline_text
from qa.errors import IndexFormatError, InputError
from qa.store.folder import check_sqlite_file
from qa.store.lexical import MAX_SCORED_ROWS, capped_query, fts_query, query_terms, segment
from qa.types import Article, Passage

__all__ = ["DEFAULT_LEAD_BOOST", "DEFAULT_WEIGHTS", "SCHEMA_VERSION", "Edition", "Store"]

SCHEMA_VERSION = 1
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

_SCHEMA = f"""
CREATE TABLE editions (
    date TEXT NOT NULL, page INTEGER NOT NULL, source TEXT NOT NULL DEFAULT '',
    sha256 TEXT NOT NULL DEFAULT '', added TEXT NOT NULL, PRIMARY KEY (date, page));
CREATE TABLE articles (
    id TEXT PRIMARY KEY, date TEXT NOT NULL, page INTEGER NOT NULL,
    position INTEGER NOT NULL, json TEXT NOT NULL);
CREATE INDEX articles_edition ON articles (date, page, position);
CREATE TABLE passages (
    id INTEGER PRIMARY KEY, article_id TEXT NOT NULL REFERENCES articles (id),
    start INTEGER NOT NULL, "end" INTEGER NOT NULL, text TEXT NOT NULL);
CREATE INDEX passages_article ON passages (article_id, start);
-- Terms are pre-segmented; "." stays inside a term so decimals like 4.78 survive.
-- detail=column: queries are single terms, so token positions are never needed.
CREATE VIRTUAL TABLE passages_fts USING fts5 (
    body, headline, detail = column,
    tokenize = "unicode61 remove_diacritics 0 tokenchars '.'");
PRAGMA user_version = {SCHEMA_VERSION};
"""
_TABLES = {"editions", "articles", "passages", "passages_fts"}


class Edition(NamedTuple):
    """One edition page held by the store."""

    date: str
    page: int
    source: str
    sha256: str
    added: str  # ISO UTC time it was added


class Store:
    """Editions, articles and passages in one SQLite file, with lexical search.

    Args:
        path: the database file (created when missing) or ":memory:".
        weights: bm25 column weights (body, headline) used by `search` by default.
        lead_boost: score factor for an article's first passage used by `search` by default.
        readonly: open without writing (the file must exist).
    Raises:
        IndexFormatError: the file is not an edition-qa store, is corrupt, or has another
            schema version. The file is left untouched.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        weights: Sequence[float] = DEFAULT_WEIGHTS,
        lead_boost: float = DEFAULT_LEAD_BOOST,
        readonly: bool = False,
    ) -> None:
        self.path = str(path)
        self.weights = tuple(float(w) for w in weights)
        if len(self.weights) != 2:
            raise ValueError("weights must be (body, headline)")
        self.lead_boost = float(lead_boost)
        self._lock = threading.RLock()
        self._rows: int | None = None  # passages, counted on the first search after a change
        memory = self.path == ":memory:"
        if not memory:
            check_sqlite_file(Path(self.path), readonly=readonly, tables=_TABLES, version=SCHEMA_VERSION)
        try:
            if readonly:
                uri = f"file:{quote(str(Path(self.path).resolve()))}?mode=ro"
                self._conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
            else:
                self._conn = sqlite3.connect(self.path, check_same_thread=False)
            self._conn.execute("PRAGMA foreign_keys = ON")
            if not memory and not readonly:
                self._conn.execute("PRAGMA journal_mode = WAL")
                self._conn.execute("PRAGMA synchronous = NORMAL")
            if not self._tables():
                if readonly:
                    raise IndexFormatError(f"{self.path} is empty; build the index with `edition-qa build`")
                with self._conn:
                    self._conn.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise IndexFormatError(
                f"{self.path} cannot be opened as an edition-qa store ({exc}); rebuild it with `edition-qa build`"
            ) from exc

    # ------------------------------------------------------------------ opening

    def _affordable(self, query: str) -> str:
        """`fts_query(query)`, without its most common terms when they would cost too much."""
        match = fts_query(query)
        with self._lock:
            if self._rows is None:
                self._rows = self._conn.execute("SELECT count(*) FROM passages").fetchone()[0]
            if not match or self._rows <= MAX_SCORED_ROWS:
                return match
            self._conn.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.passages_vocab "
                               "USING fts5vocab(main, passages_fts, row)")
            terms = query_terms(query)
            marks = ",".join("?" * len(terms))
            df = dict(self._conn.execute(f"SELECT term, doc FROM temp.passages_vocab WHERE term IN ({marks})",
                                         terms).fetchall())
        return capped_query(terms, df, MAX_SCORED_ROWS)

    def _tables(self) -> set[str]:
        rows = self._conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        return {r[0] for r in rows} & _TABLES

    def close(self) -> None:
        """Close the connection (idempotent)."""
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ writing

    def add_edition(
        self,
        date: str,
        page: int,
        articles: Sequence[Article],
        passages: Iterable[Passage],
        *,
        source: str = "",
        sha256: str = "",
        terms: Mapping[int, str] | None = None,
    ) -> None:
        """Add one edition page: its articles (in printed order) and their passages.

        `terms`: passage id -> its indexed form (`segment(text)`) where the caller has it already.

        Raises InputError when the page is already stored (remove it first) or a passage
        belongs to none of `articles`. Nothing is written when it raises.
        """
        passages = list(passages)
        known = {a.id: a for a in articles}
        for p in passages:
            if p.article_id not in known:
                raise InputError(f"passage {p.id} belongs to article {p.article_id!r}, which is not in the edition")
        added = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        self._rows = None
        heads = {a.id: segment(headline_text(a)) for a in articles}
        with self._lock:
            try:
                with self._conn:
                    self._conn.execute(
                        "INSERT INTO editions (date, page, source, sha256, added) VALUES (?, ?, ?, ?, ?)",
                        (date, int(page), source, sha256, added),
                    )
                    self._conn.executemany(
                        "INSERT INTO articles (id, date, page, position, json) VALUES (?, ?, ?, ?, ?)",
                        [
                            (a.id, date, int(page), i, json.dumps(a.to_dict(), ensure_ascii=False))
                            for i, a in enumerate(articles)
                        ],
                    )
                    self._conn.executemany(
                        'INSERT INTO passages (id, article_id, start, "end", text) VALUES (?, ?, ?, ?, ?)',
                        [(p.id, p.article_id, p.start, p.end, p.text) for p in passages],
                    )
                    self._conn.executemany(
                        "INSERT INTO passages_fts (rowid, body, headline) VALUES (?, ?, ?)",
                        [(p.id, terms[p.id] if terms and p.id in terms else segment(p.text), heads[p.article_id])
                         for p in passages],
                    )
            except sqlite3.IntegrityError as exc:
                raise InputError(
                    f"edition {date} page {page} (or one of its articles or passages) is already "
                    f"in the index ({exc}); remove it first"
                ) from exc

    def remove_edition(self, date: str, page: int | None = None) -> list[int]:
        """Remove an edition's pages (all pages when `page` is None); returns the removed passage ids."""
        where, args = self._where(date=date, page=page)
        self._rows = None
        with self._lock, self._conn:
            ids = [r[0] for r in self._conn.execute(
                f"SELECT p.id FROM passages p JOIN articles a ON a.id = p.article_id WHERE {where} ORDER BY p.id",
                args,
            )]
            self._conn.executemany("DELETE FROM passages_fts WHERE rowid = ?", [(i,) for i in ids])
            self._conn.executemany("DELETE FROM passages WHERE id = ?", [(i,) for i in ids])
            bare, _ = self._where(date=date, page=page, alias="")
            self._conn.execute(f"DELETE FROM articles WHERE {bare}", args)
            self._conn.execute(f"DELETE FROM editions WHERE {bare}", args)
        return ids

    # ------------------------------------------------------------------ reading

    @staticmethod
    def _where(
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

    def editions(self) -> list[Edition]:
        """Stored edition pages, by date and page."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT date, page, source, sha256, added FROM editions ORDER BY date, page"
            ).fetchall()
        return [Edition(*r) for r in rows]

    def edition_counts(self) -> dict[tuple[str, int], tuple[int, int]]:
        """(date, page) -> (articles, passages) of every stored edition page."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT e.date, e.page, COUNT(DISTINCT a.id), COUNT(p.id) FROM editions e "
                "LEFT JOIN articles a ON a.date = e.date AND a.page = e.page "
                "LEFT JOIN passages p ON p.article_id = a.id GROUP BY e.date, e.page").fetchall()
        return {(r[0], r[1]): (r[2], r[3]) for r in rows}

    def articles(self, *, date: str | None = None, page: int | None = None) -> list[Article]:
        """Articles in printed order (by date, page, position), optionally of one date / page."""
        where, args = self._where(date=date, page=page)
        with self._lock:
            rows = self._conn.execute(
                f"SELECT json FROM articles a WHERE {where} ORDER BY date, page, position", args
            ).fetchall()
        return [Article.from_dict(json.loads(r[0])) for r in rows]

    def article(self, article_id: str) -> Article | None:
        """The article with this id, or None."""
        with self._lock:
            row = self._conn.execute("SELECT json FROM articles WHERE id = ?", (article_id,)).fetchone()
        return Article.from_dict(json.loads(row[0])) if row else None

    def passages(self, ids: Iterable[int]) -> list[Passage]:
        """Passages with these ids, in the order given; unknown ids are skipped."""
        ids = [int(i) for i in ids]
        found: dict[int, Passage] = {}
        with self._lock:
            for k in range(0, len(ids), 500):  # stay under SQLite's bound-parameter limit
                chunk = ids[k:k + 500]
                marks = ",".join("?" * len(chunk))
                for r in self._conn.execute(
                    f'SELECT id, article_id, start, "end", text FROM passages WHERE id IN ({marks})', chunk
                ):
                    found[r[0]] = Passage(*r)
        return [found[i] for i in ids if i in found]

    def passage(self, passage_id: int) -> Passage | None:
        """The passage with this id, or None."""
        got = self.passages([passage_id])
        return got[0] if got else None

    def passage_ids(
        self, *, date: str | None = None, page: int | None = None, article_id: str | None = None,
        since: str | None = None, until: str | None = None,
    ) -> list[int]:
        """Ids of the passages matching the filters (all when none), in printed order;
        `since`/`until`: an inclusive range of edition dates."""
        where, args = self._where(date=date, page=page, article_id=article_id, since=since, until=until)
        with self._lock:
            rows = self._conn.execute(
                f"SELECT p.id FROM passages p JOIN articles a ON a.id = p.article_id WHERE {where} "
                "ORDER BY a.date, a.page, a.position, p.start, p.id",
                args,
            ).fetchall()
        return [r[0] for r in rows]

    def counts(self) -> dict[str, int]:
        """Numbers of editions, articles and passages."""
        with self._lock:
            return {
                t: self._conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                for t in ("editions", "articles", "passages")
            }

    # ------------------------------------------------------------------ search

    def search(
        self,
        query: str,
        *,
        limit: int = 50,
        date: str | None = None,
        page: int | None = None,
        article_id: str | None = None,
        weights: Sequence[float] | None = None,
        lead_boost: float | None = None,
        since: str | None = None,
        until: str | None = None,
    ) -> list[tuple[int, float]]:
        """Lexical search: (passage id, score) best first; score is -bm25, higher is better.

        `query` is a question in plain text (never FTS5 syntax); filters restrict the
        passages searched (`since`/`until`: an inclusive range of edition dates). `weights` overrides the store's bm25 column weights and
        `lead_boost` its factor for an article's first passage.
        """
        w = tuple(float(x) for x in (weights if weights is not None else self.weights))
        lead = float(self.lead_boost if lead_boost is None else lead_boost)
        if len(w) != 2:
            raise ValueError("weights must be (body, headline)")
        match = self._affordable(query)
        if not match or limit <= 0:
            return []
        where, args = self._where(date=date, page=page, article_id=article_id, since=since, until=until)
        sql = (
            "SELECT f.rowid, bm25(passages_fts, ?, ?) * (CASE WHEN p.start = 0 THEN ? ELSE 1.0 END) AS s "
            "FROM passages_fts f "
            "JOIN passages p ON p.id = f.rowid JOIN articles a ON a.id = p.article_id "
            f"WHERE passages_fts MATCH ? AND {where} ORDER BY s, f.rowid LIMIT ?"
        )
        with self._lock:
            try:
                rows = self._conn.execute(sql, [*w, lead, match, *args, int(limit)]).fetchall()
            except sqlite3.OperationalError:
                # Defensive: fts_query only emits quoted terms, but a query FTS5 still
                # rejects means "nothing found", never an error for the person asking.
                return []
        return [(r[0], -r[1]) for r in rows]
