"""SQLite store: editions, articles, passages, and an FTS5 index over segmented text.

FTS5 cannot segment Chinese, so the indexed columns hold `qa.store.lexical.segment` terms
joined by spaces and the FTS tokenizer only splits on them. Questions go through the same
tokenizer, and `fts_query` quotes every term, so no question text is ever FTS5 syntax.

Space (format 2): a passage's text is not stored, it is sliced from its article's body by its
offsets; the FTS table is contentless (detail=full: bm25 gives the same scores as on a table
with content, which detail=column does not in SQLite 3.40), so the segmented terms are not
stored either. Removing a page recomputes its terms to delete them.

Threads: one connection (`check_same_thread=False`) serialized by a lock. Every call is
short (milliseconds on an edition), so readers queue rather than contend.

Transactions: a plain store commits each call. A `snapshot` store (an index folder opened in
place, `qa.store.index`) holds one transaction from opening to `commit`/`close`: its reads all
see the version it opened (WAL: other processes keep committing meanwhile), and its writes stay
invisible to everyone else until `commit`, which is the commit point of an index change.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from urllib.parse import quote

from qa.editions.chunk import headline_text
from qa.errors import IndexFormatError, InputError
from qa.store.folder import check_sqlite_file
from qa.store.lexical import segment
from qa.store.sqlite_schema import (
    DEFAULT_LEAD_BOOST,
    DEFAULT_WEIGHTS,
    SCHEMA,
    SCHEMA_VERSION,
    TABLES,
    TEXT,
    Edition,
    StaleSnapshotError,
    affordable,
    article_json,
    article_row,
    indexed_terms,
    search_large,
    where_clause,
)
from qa.types import Article, Passage

__all__ = ["DEFAULT_LEAD_BOOST", "DEFAULT_WEIGHTS", "SCHEMA_VERSION", "Edition", "StaleSnapshotError", "Store"]

class Store:
    """Editions, articles and passages in one SQLite file, with lexical search.

    Args:
        path: the database file (created when missing) or ":memory:".
        weights: bm25 column weights (body, headline) used by `search` by default.
        lead_boost: score factor for an article's first passage used by `search` by default.
        readonly: open without writing (the file must exist).
        snapshot: hold one transaction (see the module doc): reads see the version opened,
            writes wait for `commit`.
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
        snapshot: bool = False,
    ) -> None:
        self.path = str(path)
        self.weights = tuple(float(w) for w in weights)
        if len(self.weights) != 2:
            raise ValueError("weights must be (body, headline)")
        self.lead_boost = float(lead_boost)
        self.snapshot = snapshot
        self.changed = False  # a snapshot store holds writes not committed yet
        self._lock = threading.RLock()
        self._rows: int | None = None  # passages, counted on the first search after a change
        memory = self.path == ":memory:"
        if not memory:
            check_sqlite_file(Path(self.path), readonly=readonly, tables=TABLES, version=SCHEMA_VERSION)
        try:
            if readonly:
                uri = f"file:{quote(str(Path(self.path).resolve()))}?mode=ro"
                self._conn = sqlite3.connect(uri, uri=True, check_same_thread=False, isolation_level=None)
            else:
                self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None,
                                             timeout=60)
            self._conn.execute("PRAGMA foreign_keys = ON")
            if not memory and not readonly:
                self._conn.execute("PRAGMA journal_mode = WAL")
                self._conn.execute("PRAGMA synchronous = NORMAL")
            if not self._tables():
                if readonly:
                    raise IndexFormatError(f"{self.path} is empty; build the index with `edition-qa build`")
                self._conn.executescript(f"BEGIN; {SCHEMA} COMMIT;")
            if snapshot:
                self._begin()
        except sqlite3.DatabaseError as exc:
            raise IndexFormatError(
                f"{self.path} cannot be opened as an edition-qa store ({exc}); rebuild it with `edition-qa build`"
            ) from exc

    # ------------------------------------------------------------------ transactions

    def _begin(self) -> None:
        self._conn.execute("BEGIN")
        self._conn.execute("SELECT count(*) FROM meta").fetchone()  # the first read pins the version
        self.changed = False
        self._rows = None

    @contextlib.contextmanager
    def _write(self) -> Iterator[None]:
        """One atomic change: a savepoint, inside the snapshot's transaction or committed at once."""
        with self._lock:
            self._rows = None
            try:
                self._conn.execute("SAVEPOINT change")
                try:
                    yield
                except BaseException:
                    self._conn.execute("ROLLBACK TO change")
                    self._conn.execute("RELEASE change")
                    raise
                self._conn.execute("RELEASE change")
            except sqlite3.OperationalError as exc:
                if getattr(exc, "sqlite_errorcode", None) == 517:  # SQLITE_BUSY_SNAPSHOT
                    raise StaleSnapshotError(f"{self.path} was changed by another writer since it was "
                                             "opened; open it again") from None
                raise
            self.changed = self.changed or self.snapshot

    def commit(self, meta: Mapping[str, str] | None = None) -> None:
        """Write `meta` and commit: a snapshot store publishes its changes (then holds the new version)."""
        with self._lock:
            if meta:
                with self._write():
                    self._conn.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                                           list(meta.items()))
            if self._conn.in_transaction:
                self._conn.execute("COMMIT")
            if self.snapshot:
                self._begin()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Group many changes into one commit (bulk loads: one FTS5 segment, not one a page)."""
        if self.snapshot:
            raise InputError("a snapshot store commits with `commit`")
        with self._lock:
            self._conn.execute("BEGIN")
            try:
                yield
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def meta(self) -> dict[str, str]:
        """The key/value rows of the store's meta table (the manifest of the version held)."""
        with self._lock:
            return dict(self._conn.execute("SELECT key, value FROM meta").fetchall())

    def backup(self, dest: Path) -> None:
        """Copy the version held into one new self-contained file (WAL mode, like every store)."""
        if self.changed:
            raise InputError(f"{self.path} has changes not committed yet; save the index to its own folder")
        target = sqlite3.connect(dest)
        try:
            with self._lock:
                self._conn.backup(target)
            target.execute("PRAGMA journal_mode = WAL")
        finally:
            target.close()

    # ------------------------------------------------------------------ opening

    def _tables(self) -> set[str]:
        rows = self._conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        return {r[0] for r in rows} & TABLES

    def close(self) -> None:
        """Close the connection (idempotent); changes not committed are dropped."""
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
        added: str | None = None,
    ) -> None:
        """Add one edition page: its articles (in printed order) and their passages.

        `terms`: passage id -> its indexed form where the caller has it already; it must equal
        `segment(text)` (removing the page deletes the terms recomputed so). `added`: when it was
        added (ISO UTC; default now).

        Raises InputError when the page is already stored (remove it first) or a passage
        belongs to none of `articles`. Nothing is written when it raises.
        """
        passages = list(passages)
        known = {a.id: a for a in articles}
        for p in passages:
            if p.article_id not in known:
                raise InputError(f"passage {p.id} belongs to article {p.article_id!r}, which is not in the edition")
        added = added or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        heads = {a.id: segment(headline_text(a)) for a in articles}
        try:
            with self._write():
                self._conn.execute(
                    "INSERT INTO editions (date, page, source, sha256, added) VALUES (?, ?, ?, ?, ?)",
                    (date, int(page), source, sha256, added),
                )
                self._conn.executemany(
                    "INSERT INTO articles (id, date, page, position, body, json) VALUES (?, ?, ?, ?, ?, ?)",
                    [(a.id, date, int(page), i, a.body, article_json(a)) for i, a in enumerate(articles)],
                )
                self._conn.executemany(
                    'INSERT INTO passages (id, article_id, start, "end", text) VALUES (?, ?, ?, ?, ?)',
                    [(p.id, p.article_id, p.start, p.end,
                      None if known[p.article_id].body[p.start:p.end] == p.text else p.text) for p in passages],
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
        where, args = where_clause(date=date, page=page)
        with self._write():
            rows = self._conn.execute(
                f"SELECT p.id, {TEXT}, a.id, a.date, a.page, a.body, a.json FROM passages p "
                f"JOIN articles a ON a.id = p.article_id WHERE {where} ORDER BY p.id", args).fetchall()
            heads: dict[str, str] = {}
            for r in rows:
                if r[2] not in heads:
                    heads[r[2]] = segment(headline_text(article_row(r[2:])))
            # A contentless FTS table deletes a row given the terms it was indexed with.
            self._conn.executemany(
                "INSERT INTO passages_fts (passages_fts, rowid, body, headline) VALUES ('delete', ?, ?, ?)",
                [(r[0], segment(r[1]), heads[r[2]]) for r in rows])
            self._conn.executemany("DELETE FROM passages WHERE id = ?", [(r[0],) for r in rows])
            bare, _ = where_clause(date=date, page=page, alias="")
            self._conn.execute(f"DELETE FROM articles WHERE {bare}", args)
            self._conn.execute(f"DELETE FROM editions WHERE {bare}", args)
        return [r[0] for r in rows]
    # ------------------------------------------------------------------ reading

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
        where, args = where_clause(date=date, page=page)
        with self._lock:
            rows = self._conn.execute(
                f"SELECT id, date, page, body, json FROM articles a WHERE {where} ORDER BY date, page, position",
                args).fetchall()
        return [article_row(r) for r in rows]

    def article(self, article_id: str) -> Article | None:
        """The article with this id, or None."""
        with self._lock:
            row = self._conn.execute("SELECT id, date, page, body, json FROM articles WHERE id = ?",
                                     (article_id,)).fetchone()
        return article_row(row) if row else None

    def passages(self, ids: Iterable[int]) -> list[Passage]:
        """Passages with these ids, in the order given; unknown ids are skipped."""
        ids = [int(i) for i in ids]
        found: dict[int, Passage] = {}
        with self._lock:
            for k in range(0, len(ids), 500):  # stay under SQLite's bound-parameter limit
                chunk = ids[k:k + 500]
                marks = ",".join("?" * len(chunk))
                for r in self._conn.execute(
                    f'SELECT p.id, p.article_id, p.start, p."end", {TEXT} FROM passages p '
                    f"JOIN articles a ON a.id = p.article_id WHERE p.id IN ({marks})", chunk
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
        where, args = where_clause(date=date, page=page, article_id=article_id, since=since, until=until)
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

    def search(self, query: str, *, limit: int = 50, date: str | None = None, page: int | None = None,
               article_id: str | None = None, weights: Sequence[float] | None = None,
               lead_boost: float | None = None, since: str | None = None,
               until: str | None = None) -> list[tuple[int, float]]:
        """Lexical search: (passage id, score) best first; score is -bm25, higher is better.

        `query` is a question in plain text (never FTS5 syntax); filters restrict the
        passages searched (`since`/`until`: an inclusive range of edition dates). `weights` overrides the store's bm25 column weights and
        `lead_boost` its factor for an article's first passage.
        """
        w = tuple(float(x) for x in (weights if weights is not None else self.weights))
        lead = float(self.lead_boost if lead_boost is None else lead_boost)
        if len(w) != 2:
            raise ValueError("weights must be (body, headline)")
        with self._lock:
            if self._rows is None:
                self._rows = self._conn.execute("SELECT count(*) FROM passages").fetchone()[0]
            match, large = affordable(self._conn, query, self._rows)
        if not match or limit <= 0:
            return []
        where, args = where_clause(date=date, page=page, article_id=article_id, since=since, until=until)
        with self._lock:
            try:
                if large and not args:
                    return search_large(self._conn, match, w, lead, int(limit))
                rows = self._conn.execute(
                    "SELECT f.rowid, bm25(passages_fts, ?, ?) * (CASE WHEN p.start = 0 THEN ? ELSE 1.0 END) AS s "
                    "FROM passages_fts f JOIN passages p ON p.id = f.rowid JOIN articles a ON a.id = p.article_id "
                    f"WHERE passages_fts MATCH ? AND {where} ORDER BY s, f.rowid LIMIT ?",
                    [*w, lead, match, *args, int(limit)]).fetchall()
            except sqlite3.OperationalError:
                # Defensive: fts_query only emits quoted terms, but a query FTS5 still
                # rejects means "nothing found", never an error for the person asking.
                return []
        return [(r[0], -r[1]) for r in rows]

    def terms_from(self, prefix: str, limit: int) -> list[str]:
        """The lexical index's terms that start with `prefix`, at most `limit` (English questions
        look up their names in pinyin and which dictionary words the index holds so:
        `qa.language.translate.lexical_question`)."""
        with self._lock:
            return indexed_terms(self._conn, prefix, limit)
