"""The archive on Milvus: `edition-qa add` / `remove` / `editions` on a Milvus URI give the same output
as on a folder (in-process Milvus Lite and a `milvus-lite server`), and the date / page / range
filters give the folder store's hits through filter expressions, not id lists."""

from __future__ import annotations

import json
import shutil
import time
import types
from pathlib import Path

import pytest

from archive_helpers import SAMPLE
from milvus_helpers import server  # noqa: F401 (a fixture)
from qa.errors import InputError
from qa.search.retrieve import retrieve
from qa.store.archive import add_editions, list_editions
from qa.store.index import Index
from qa.store.location import open_index

pytest.importorskip("pymilvus")
pytest.importorskip("milvus_lite")


@pytest.fixture
def archive_cli(monkeypatch, hash_embedder):
    """The CLI with the hash embedder for every model and every page added at 2024-05-01 08:00 UTC."""
    import qa.models.embed
    import qa.store.milvus
    import qa.store.sqlite

    monkeypatch.setattr(qa.models.embed, "get_embedder", lambda model=None: hash_embedder)
    fixed = types.SimpleNamespace(strftime=time.strftime, gmtime=lambda *a: time.gmtime(1714550400),
                                  time_ns=time.time_ns)
    monkeypatch.setattr(qa.store.sqlite, "time", fixed)
    monkeypatch.setattr(qa.store.milvus, "time", fixed)


def run(capsys, *args: str) -> tuple[int, str, str]:
    from qa.app.cli import main

    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def _session(capsys, index: str, inbox: Path) -> list[tuple[int, str, str]]:
    """add (new index), add a batch with a bad file and an unchanged page, add again (no changes),
    replace a page, editions, remove a page, editions --json, remove a missing date."""
    changed = inbox.parent / "changed" / "edition-2020-11-15-p02.txt"
    changed.parent.mkdir(exist_ok=True)
    changed.write_text(SAMPLE.read_text(encoding="utf-8").replace("义乌", "金华", 3), encoding="utf-8")
    steps = [("--quiet", "add", str(SAMPLE), "--index", index),
             ("--quiet", "add", str(SAMPLE), str(inbox), "--index", index),
             ("add", str(SAMPLE), "--index", index),
             ("--quiet", "add", str(changed), "--index", index),
             ("editions", "--index", index),
             ("remove", "--date", "2020-11-15", "--page", "3", "--index", index),
             ("editions", "--index", index, "--json"),
             ("remove", "--date", "2021-01-01", "--index", index)]
    # the timing of a "saved ..." line ("in 0.3 s") is left out
    return [(code, "\n".join(line.rsplit(" in ", 1)[0] if line.startswith("saved ") else line
                             for line in out.split("\n")), err)
            for code, out, err in (run(capsys, *step) for step in steps)]


@pytest.fixture
def inbox(tmp_path) -> Path:
    folder = tmp_path / "in" / "2020" / "11"
    folder.mkdir(parents=True)
    for date, page in (("2020-11-15", 2), ("2020-11-15", 3), ("2020-11-16", 1)):
        shutil.copyfile(SAMPLE, folder / f"edition-{date}-p{page:02d}.txt")
    (tmp_path / "in" / "bad.jsonl").write_text("{oops\n", encoding="utf-8")
    return tmp_path / "in"


def _expected(capsys, tmp_path, inbox) -> list[tuple[int, str, str]]:
    folder = str(tmp_path / "folder")
    return [(c, o.replace(folder, "INDEX"), e.replace(folder, "INDEX"))
            for c, o, e in _session(capsys, folder, inbox)]


def _check(got, expected) -> None:
    assert got == expected
    codes = [c for c, _, _ in got]
    assert codes == [0, 1, 0, 0, 0, 0, 0, 1]
    assert got[1][1].splitlines()[0] == "unchanged  2020-11-14 p.1  edition-2020-11-14-p01.txt"
    assert got[1][1].splitlines()[-1] == ("saved INDEX: 4 edition page(s), 32 items, 132 passages "
                                          "(generation 2)")
    assert got[1][2].startswith("edition-qa: error: bad.jsonl line 1: not valid JSON")
    assert got[2][1] == "unchanged  2020-11-14 p.1  edition-2020-11-14-p01.txt\nno changes: INDEX left as it was\n"
    assert got[3][1].startswith("replaced   2020-11-15 p.2  8 items, 33 passages (")
    assert got[4][1] == ("date        pages       articles  passages  added\n"
                         "2020-11-14  1                  8        33  2024-05-01T08:00:00Z\n"
                         "2020-11-15  2-3               16        66  2024-05-01T08:00:00Z\n"
                         "2020-11-16  1                  8        33  2024-05-01T08:00:00Z\n"
                         "3 date(s), 4 page(s), 32 items, 132 passages\n")
    assert got[5][1] == "removed 2020-11-15 page 3 (1 page(s)) from INDEX\n"
    assert [r["pages"] for r in json.loads(got[6][1])] == [[1], [2], [1]]
    assert "no edition 2021-01-01 in INDEX" in got[7][2] and got[7][2].count("\n") == 1


def test_cli_archive_on_milvus_lite_as_on_a_folder(capsys, tmp_path, inbox, archive_cli):
    expected = _expected(capsys, tmp_path, inbox)
    uri = f"milvus://{tmp_path}/archive.db"
    shown = f"{uri}?collection=edition_qa"
    got = [(c, o.replace(shown, "INDEX"), e.replace(shown, "INDEX")) for c, o, e in _session(capsys, uri, inbox)]
    _check(got, expected)


def test_cli_archive_on_a_milvus_server_as_on_a_folder(capsys, tmp_path, inbox, archive_cli, server):
    expected = _expected(capsys, tmp_path, inbox)
    _, uri = server
    uri += "?collection=papers"
    got = [(c, o.replace(uri, "INDEX"), e.replace(uri, "INDEX")) for c, o, e in _session(capsys, uri, inbox)]
    _check(got, expected)


def test_a_batch_appears_at_once_on_milvus(tmp_path, inbox, hash_embedder, monkeypatch):
    """A reader sees none of a batch until its end, then all of it; the rows staged are published
    by one flip, and a page given twice in a batch is stored once (the later file)."""
    from qa.store import milvus

    uri = f"milvus://{tmp_path}/batch.db"
    add_editions(uri, [SAMPLE], model=hash_embedder)
    reader = open_index(uri, model=hash_embedder)
    seen: list[int] = []
    stage = milvus.MilvusIndex.stage_articles

    def spy(self, *args, **kwargs):
        seen.append(len(reader.store.editions()))
        return stage(self, *args, **kwargs)

    monkeypatch.setattr(milvus.MilvusIndex, "stage_articles", spy)
    again = tmp_path / "again" / "edition-2020-11-15-p02.txt"
    again.parent.mkdir()
    again.write_text(SAMPLE.read_text(encoding="utf-8").replace("义乌", "金华"), encoding="utf-8")
    result = add_editions(uri, [inbox, again], model=hash_embedder)
    assert [o.status for o in result.outcomes] == ["added", "added", "added", "failed", "replaced"]
    assert seen == [1, 1, 1, 1]  # nothing of the batch visible while it runs
    assert [(r.date, r.pages) for r in list_editions(uri)] == [("2020-11-14", (1,)), ("2020-11-15", (2, 3)),
                                                                ("2020-11-16", (1,))]
    assert result.counts == {"editions": 4, "articles": 32, "passages": 132} and result.generation == 2
    page2 = [e for e in reader.store.editions() if (e.date, e.page) == ("2020-11-15", 2)]
    assert len(page2) == 1 and page2[0].source == again.name


# -- filters ------------------------------------------------------------------------------


@pytest.fixture
def multi(tmp_path, hash_embedder) -> tuple[Index, object]:
    """The sample's 8 articles spread over 4 dates x 2 pages: a folder index and its Milvus copy."""
    from qa.editions.parse import load_edition
    from qa.store.location import write_index

    articles = load_edition(SAMPLE)
    files = []
    for n, a in enumerate(articles):
        date, page = f"2020-11-{14 + n // 2}", 1 + n % 2
        path = tmp_path / "multi" / f"edition-{date}-p{page:02d}.jsonl"
        path.parent.mkdir(exist_ok=True)
        row = {"headline": a.headline, "byline": " ".join(a.byline), "body": a.body or a.headline,
               "kind": a.kind, "date": date, "page": page}
        path.write_text(json.dumps(row, ensure_ascii=False) + "\n", encoding="utf-8")
        files.append(path)
    folder = tmp_path / "multi-index"
    add_editions(folder, files, model=hash_embedder)
    local = Index.load(folder, model=hash_embedder)
    uri = f"milvus://{tmp_path}/multi.db"
    write_index(local, uri)
    return local, open_index(uri, model=hash_embedder)


FILTERS = [{"date": "2020-11-15"}, {"page": 2}, {"date": "2020-11-16", "page": 1},
           {"since": "2020-11-15"}, {"until": "2020-11-15"}, {"since": "2020-11-15", "until": "2020-11-16"},
           {"since": "2020-11-16", "page": 1}, {"since": "2020-11-18"}]


def _within(article, where: dict) -> bool:
    return (article.date == where.get("date", article.date) and article.page == where.get("page", article.page)
            and where.get("since", "") <= article.date <= where.get("until", "9999"))


@pytest.mark.parametrize("where", FILTERS, ids=lambda w: ",".join(f"{k}={v}" for k, v in w.items()))
def test_filters_give_the_folder_hits(multi, hash_embedder, where, monkeypatch):
    from qa.store import milvus_conn

    local, remote = multi
    assert remote.store.passage_ids(**where) == local.store.passage_ids(**where)
    exprs: list[str] = []
    dense = milvus_conn.Connection.dense

    def spy(self, vector, expr, *, limit):
        exprs.append(expr)
        return dense(self, vector, expr, limit=limit)

    monkeypatch.setattr(milvus_conn.Connection, "dense", spy)
    for q in ("义乌绿色动力小镇的规划面积是多少？", "进博会美国馆", "马拉松比赛"):
        qv = hash_embedder.embed_queries([q])[0]
        allowed = local.store.passage_ids(**where)
        want = local.vectors.search(qv, 10, ids=allowed) if allowed else []
        got = remote.vectors.search(qv, 10, **where)
        assert [p for p, _ in got] == [p for p, _ in want]
        assert [s for _, s in got] == pytest.approx([s for _, s in want], abs=1e-5)
        assert {p for p, _ in remote.store.search(q, limit=50, **where)} == \
               {p for p, _ in local.store.search(q, limit=50, **where)}
        # Fused with BM25, the order can differ (Milvus's idf variant, README "Milvus"); by the
        # dense score alone, retrieval (re-ranking, overlap cuts) gives the folder's hits exactly.
        for fusion in (None, {"method": "dense"}):
            hits = retrieve(q, k=5, index=remote, fusion=fusion, **where)
            assert all(_within(h.article, where) for h in hits)
            assert {h.article.id for h in hits} <= {a.id for a in local.store.articles()}
        assert [(h.passage.id, round(h.score, 5)) for h in hits] == \
               [(h.passage.id, round(h.score, 5)) for h in retrieve(q, k=5, index=local, fusion=fusion, **where)]
    assert exprs and not any("pid in" in e for e in exprs)  # filters as expressions, not id lists


def test_filter_values_are_checked_never_spliced(multi):
    _, remote = multi
    with pytest.raises(InputError, match="since must be a date"):
        remote.store.passage_ids(since='2020-11-15" or "1" == "1')
    with pytest.raises(InputError, match="until must be a date"):
        remote.vectors.search(remote.vectors.vectors([remote.store.passage_ids()[0]])[0], 3,
                              until="2020-11-16 or date != ''")
    assert remote.store.passage_ids(date='2020-11-15" or "1" == "1') == []
