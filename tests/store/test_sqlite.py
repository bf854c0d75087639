"""SQLite store: round trip, filters, removal, hostile FTS queries, corrupt files."""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from pathlib import Path

import pytest

from qa.editions.chunk import chunk_articles, headline_text
from qa.errors import IndexFormatError, InputError
from qa.store.lexical import fts_query, segment
from qa.store.sqlite import Edition, Store
from qa.types import Article


def _edition(date: str, page: int) -> list[Article]:
    pre = f"{date}-p{page:02d}"
    return [
        Article(
            id=f"{pre}-01",
            date=date,
            page=page,
            headline="义乌绿色动力小镇获省级命名",
            kicker="特色小镇",
            byline=("全媒体记者 王婷",),
            body=(
                "义乌绿色动力小镇位于赤岸镇与佛堂镇交界处，规划面积 3.32 平方公里。"
                "总投资 206 亿元的东方日升 15GW 高效电池及组件项目落地。\n"
                "英伦新能源整车是全新一代超低排放 TX5 产品。小镇产值将超千亿元。"
            ),
        ),
        Article(id=f"{pre}-02", date=date, page=page, kind="brief", headline="佛堂古镇举办秋季文化节"),
        Article(
            id=f"{pre}-03",
            date=date,
            page=page,
            kind="photo",
            body="工人在吉利发动机工厂车间内组装 1.5T 发动机。",
        ),
    ]


DATES = [("2020-11-14", 1), ("2020-11-14", 2), ("2020-11-15", 1)]


def _fill(store: Store) -> dict[tuple[str, int], list[Article]]:
    out = {}
    for date, page in DATES:
        arts = _edition(date, page)
        store.add_edition(date, page, arts, chunk_articles(arts, size=60), source=f"{date}-{page}.txt", sha256="ab")
        out[(date, page)] = arts
    return out


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "store.sqlite")
    yield s
    s.close()


def test_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"
    with Store(path) as s:
        eds = _fill(s)
        counts = s.counts()
    assert counts == {"editions": 3, "articles": 9, "passages": sum(len(chunk_articles(a, size=60)) for a in eds.values())}
    with Store(path, readonly=True) as s:
        assert s.counts() == counts
        assert s.editions()[0] == Edition("2020-11-14", 1, "2020-11-14-1.txt", "ab", s.editions()[0].added)
        arts = s.articles(date="2020-11-14", page=1)
        assert arts == eds[("2020-11-14", 1)]  # printed order and every field kept
        assert s.article("2020-11-14-p01-03") == eds[("2020-11-14", 1)][2]
        assert s.article("nope") is None
        expected = chunk_articles(eds[("2020-11-14", 1)], size=60)
        ids = [p.id for p in expected]
        assert s.passages(ids) == expected
        assert s.passages(list(reversed(ids)) + [12345]) == list(reversed(expected))
        assert s.passage(ids[0]) == expected[0]
        assert s.passage(12345) is None
        assert s.passage_ids(date="2020-11-14", page=1) == ids
        hits = s.search("规划面积是多少")
        assert hits and all(isinstance(i, int) and isinstance(sc, float) for i, sc in hits)


def test_wal_mode(store: Store) -> None:
    assert store._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_search_finds_numbers_units_and_headlines(store: Store) -> None:
    _fill(store)
    by_id = {}
    for p in store.passages(store.passage_ids()):
        by_id[p.id] = p

    def top(q: str, **kw: object) -> str:
        hits = store.search(q, **kw)
        assert hits, q
        scores = [s for _, s in hits]
        assert scores == sorted(scores, reverse=True)
        return by_id[hits[0][0]].text

    assert "206 亿元" in top("206亿元的项目是什么")
    assert "15GW" in top("15gw")
    assert "TX5" in top("TX5 是什么产品")
    assert "1.5T" in top("1.5T发动机")
    # a headline-only brief is found through its headline
    brief = store.search("秋季文化节")[0][0]
    assert by_id[brief].article_id.endswith("-02") and by_id[brief].text == ""


def test_search_filters(store: Store) -> None:
    _fill(store)
    for date, page in DATES:
        ids = set(store.passage_ids(date=date, page=page))
        hits = store.search("义乌绿色动力小镇", date=date, page=page)
        assert hits and {i for i, _ in hits} <= ids
    hits = store.search("义乌绿色动力小镇", date="2020-11-14")
    arts = {store.passage(i).article_id[:10] for i, _ in hits}
    assert arts == {"2020-11-14"}
    only = store.search("小镇", article_id="2020-11-15-p01-01")
    assert only and {store.passage(i).article_id for i, _ in only} == {"2020-11-15-p01-01"}
    assert store.search("小镇", date="1999-01-01") == []
    assert len(store.search("小镇", limit=2)) == 2
    assert store.search("小镇", limit=0) == []
    assert [a.id for a in store.articles(page=2)] == [a.id for a in _edition("2020-11-14", 2)]


def test_headline_weight_is_a_parameter(store: Store) -> None:
    _fill(store)
    plain = dict(store.search("特色小镇", weights=(1.0, 0.0)))
    boosted = dict(store.search("特色小镇", weights=(1.0, 5.0)))
    some = next(iter(boosted))
    assert boosted[some] > plain.get(some, 0.0)
    with pytest.raises(ValueError):
        store.search("x", weights=(1.0,))
    with pytest.raises(ValueError):
        Store(":memory:", weights=(1.0, 2.0, 3.0))


def test_remove_edition(store: Store) -> None:
    _fill(store)
    before = set(store.passage_ids())
    page1 = set(store.passage_ids(date="2020-11-14", page=1))
    removed = store.remove_edition("2020-11-14", 1)
    assert set(removed) == page1
    assert set(store.passage_ids()) == before - page1
    assert [(e.date, e.page) for e in store.editions()] == [("2020-11-14", 2), ("2020-11-15", 1)]
    assert all(i not in page1 for i, _ in store.search("义乌绿色动力小镇", limit=100))
    removed = store.remove_edition("2020-11-14")  # all remaining pages of the date
    assert removed and store.passage_ids(date="2020-11-14") == []
    assert store.counts()["editions"] == 1
    assert store.remove_edition("2020-11-14") == []
    # the page can be added again
    arts = _edition("2020-11-14", 1)
    store.add_edition("2020-11-14", 1, arts, chunk_articles(arts))
    assert store.counts()["editions"] == 2


def test_adding_twice_is_refused_and_writes_nothing(store: Store) -> None:
    _fill(store)
    counts = store.counts()
    arts = _edition("2020-11-14", 1)
    with pytest.raises(InputError, match="remove it first"):
        store.add_edition("2020-11-14", 1, arts, chunk_articles(arts))
    other = _edition("2021-01-01", 1)
    with pytest.raises(InputError):
        store.add_edition("2021-01-01", 1, other[:1], chunk_articles(other))
    assert store.counts() == counts


HOSTILE = [
    "",
    "   ",
    '"',
    '""',
    '"unbalanced',
    "规划面积\"是\"多少",
    "AND",
    "OR OR OR",
    "NOT 小镇",
    "小镇 AND 规划 OR NEAR(a b, 3)",
    "NEAR(",
    "*",
    "小镇*",
    "^小镇",
    "(((",
    ")))小镇(",
    "body: 小镇",
    "headline:义乌 - grams:x",
    "{body headline}: 小镇",
    "😀🚀 义乌 🎉",
    "\x00\x01\x02",
    "'; DROP TABLE passages; --",
    "小镇\" OR \"1\"=\"1",
    "+-~!@#$%^&*()_=[]{}|;:,.<>?/",
    "\u200b\u200d\ufeff",
    "ｂｏｄｙ：（小镇）",
    "e\u0301\u0301\u0301",
    "a" * 5000,
    "小镇" * 2000,
    "NEAR/3 义乌 NOT \\ \\\" '",
]


@pytest.mark.parametrize("question", HOSTILE)
def test_hostile_questions_never_raise(store: Store, question: str) -> None:
    _fill(store)
    query = fts_query(question)
    assert isinstance(query, str)
    hits = store.search(question, date="2020-11-14", page=1)
    assert isinstance(hits, list)
    # the query itself is valid FTS5 (not rescued by the fallback in search)
    if query:
        store._conn.execute("SELECT count(*) FROM passages_fts WHERE passages_fts MATCH ?", (query,)).fetchone()
    assert store.search("") == [] and fts_query("") == ""
    assert fts_query(None) == ""  # type: ignore[arg-type]
    assert store.counts()["passages"] > 0  # nothing was dropped


def test_quotes_are_escaped_in_terms() -> None:
    q = fts_query('义乌"小镇')
    assert q == '"义乌" OR "小镇"'
    assert all(part.startswith('"') and part.endswith('"') for part in fts_query('a"b "c OR d*').split(" OR "))


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize(
    "content",
    [b"not a database at all\n" * 50, b"SQLite format 3\x00" + b"\xff" * 5000, "中文文本".encode() * 100],
)
def test_corrupt_file_is_refused_untouched(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "store.sqlite"
    path.write_bytes(content)
    before = _digest(path)
    with pytest.raises(IndexFormatError, match="edition-qa build"):
        Store(path)
    assert _digest(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store.sqlite"]


def test_truncated_store_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"
    with Store(path) as s:
        _fill(s)
        s._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    before = _digest(path)
    with pytest.raises(IndexFormatError):
        Store(path)
    assert _digest(path) == before


def test_foreign_sqlite_file_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "other.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    before = _digest(path)
    with pytest.raises(IndexFormatError, match="not an edition-qa store"):
        Store(path)
    assert _digest(path) == before
    with pytest.raises(IndexFormatError, match="does not exist"):
        Store(tmp_path / "missing.sqlite", readonly=True)
    with pytest.raises(IndexFormatError, match="folder"):
        Store(tmp_path)


def test_concurrent_readers(store: Store) -> None:
    _fill(store)
    expected = store.search("义乌绿色动力小镇规划面积")
    errors: list[BaseException] = []
    results: list[list[tuple[int, float]]] = []

    def read() -> None:
        try:
            for _ in range(25):
                results.append(store.search("义乌绿色动力小镇规划面积"))
                store.passages([i for i, _ in expected])
                store.articles(date="2020-11-14")
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=read) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(results) == 100 and all(r == expected for r in results)


def test_question_words_are_dropped_from_queries() -> None:
    q = fts_query("义乌绿色动力小镇的规划面积是多少？")
    assert '"规划"' in q and '"多少"' not in q and '"的"' not in q and '"是"' not in q
    assert '"what"' not in fts_query("What is the planned area?")
    assert fts_query("是什么") != ""  # only question words: keep them rather than search nothing


def test_lead_boost_favours_first_passages(store: Store) -> None:
    _fill(store)
    first = {p.id for p in store.passages(store.passage_ids()) if p.start == 0}
    plain = dict(store.search("小镇", limit=100, lead_boost=1.0))
    boosted = dict(store.search("小镇", limit=100, lead_boost=1.5))
    for pid, score in plain.items():
        expected = score * 1.5 if pid in first else score
        assert boosted[pid] == pytest.approx(expected)



def test_common_terms_are_dropped_past_the_budget(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    from qa.store import lexical, sqlite_schema

    assert lexical.capped_query(["a", "b", "c"], {"a": 900, "b": 5, "c": 60}, 100) == '"b" OR "c"'
    assert lexical.capped_query(["a", "b"], {"a": 900, "b": 500}, 100) == '"b"'
    _fill(store)
    question = "义乌绿色动力小镇的规划面积是多少？"
    full = store.search(question, limit=100)
    monkeypatch.setattr(sqlite_schema, "MAX_SCORED_ROWS", 1)
    store._rows = None
    capped = store.search(question, limit=100)
    assert capped and len(capped) < len(full)


def test_large_store_search_ranks_as_the_joined_query(store: Store) -> None:
    """Past the budget an unfiltered search ranks in FTS5 alone and boosts leads afterwards:
    the same passages and scores as the query joined to every matched passage."""
    from qa.store.lexical import fts_query, segment
    from qa.store.sqlite_schema import search_large

    _fill(store)
    for question in ("义乌绿色动力小镇的规划面积是多少？", "马拉松 赛道", "美国馆面积"):
        exact = store.search(question, limit=5)
        fast = search_large(store._conn, fts_query(question), store.weights, store.lead_boost, 5)
        assert [i for i, _ in fast] == [i for i, _ in exact]
        assert [s for _, s in fast] == pytest.approx([s for _, s in exact])


def test_terms_from_lists_the_indexed_terms_of_a_prefix(store: Store) -> None:
    filled = _fill(store)
    texts = [t for arts in filled.values() for a in arts for t in (a.body, headline_text(a))]
    terms = store.terms_from("文", 100)
    # every term of the bodies and headlines as segmented, and nothing else
    assert terms == sorted({t for text in texts for t in segment(text).split() if t.startswith("文")})
    assert "文化节" in terms  # a headline's
    assert store.terms_from("文", 1) == terms[:1]
    assert "tx5" in store.terms_from("tx", 100)  # Latin terms as the FTS tokenizer folds them
    assert store.terms_from("鲸", 100) == [] and store.terms_from("", 100) == []
    # a store opened read-only (a read-only deployment) looks terms up too
    store.close()
    readonly = Store(store.path, readonly=True)
    try:
        assert readonly.terms_from("文", 100) == terms
    finally:
        readonly.close()
