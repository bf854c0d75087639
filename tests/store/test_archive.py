"""The index as an archive: add / replace / unchanged / remove, batches with bad files, the writer
lock between processes, and adds killed with SIGKILL at named steps (real subprocesses)."""

from __future__ import annotations

import json
import shutil
import signal
import tempfile
import time
from pathlib import Path

import pytest

from archive_helpers import PASSAGES, SAMPLE, cli, page, wait_for
from qa.errors import InputError
from qa.store.archive import add_editions, list_editions, remove_editions
from qa.store.index import Index


def content(folder: Path, embedder) -> tuple:
    """What an index holds: its pages with their sha256, and its passage ids (loads and checks it)."""
    index = Index.load(folder, model=embedder)
    try:
        return (tuple((e.date, e.page, e.sha256) for e in index.store.editions()),
                tuple(sorted(index.store.passage_ids())))
    finally:
        index.close()


@pytest.fixture
def base(tmp_path, hash_embedder) -> Path:
    """An index folder holding the sample page (2020-11-14 p.1)."""
    folder = tmp_path / "idx"
    result = add_editions(folder, [SAMPLE], model=hash_embedder)
    assert result.saved and result.generation == 1
    return folder


def test_add_unchanged_replace_remove(base, tmp_path, hash_embedder):
    second = page(tmp_path / "in", "2020-11-15", 2)
    result = add_editions(base, [SAMPLE, second], model=hash_embedder)
    assert [(o.status, o.pages, o.passages, o.embedded) for o in result.outcomes] == [
        ("unchanged", (("2020-11-14", 1),), 0, 0),
        ("added", (("2020-11-15", 2),), PASSAGES, PASSAGES),
    ]
    assert result.saved and result.generation == 2 and result.counts["passages"] == 2 * PASSAGES

    # the same files again: nothing changes, not even the folder
    manifest = (base / "manifest.json").stat()
    again = add_editions(base, [SAMPLE, second], model=hash_embedder)
    assert [o.status for o in again.outcomes] == ["unchanged", "unchanged"] and not again.saved
    assert (base / "manifest.json").stat().st_ino == manifest.st_ino

    # a changed page replaces its old version; only its new passages are embedded
    text = SAMPLE.read_text(encoding="utf-8")
    page(tmp_path / "in", "2020-11-15", 2, text + "\n\n新的一条消息\n\n本报讯 青溪今天开通了第一条有轨电车线路，全长十二公里。\n")
    hash_embedder.passages_embedded = 0
    replaced = add_editions(base, [second], model=hash_embedder)
    (o,) = replaced.outcomes
    assert o.status == "replaced" and o.passages > PASSAGES and 0 < o.embedded < 5
    editions = Index.load(base, model=hash_embedder).store.editions()
    assert [(e.date, e.page) for e in editions] == [("2020-11-14", 1), ("2020-11-15", 2)]

    assert remove_editions(base, "2020-11-15") == 1
    assert [(r.date, r.pages, r.articles, r.passages) for r in list_editions(base)] == [
        ("2020-11-14", (1,), 8, PASSAGES)]
    with pytest.raises(InputError, match="no edition 2020-11-15"):
        remove_editions(base, "2020-11-15")


def test_folders_are_searched_recursively_and_bad_files_do_not_sink_the_batch(base, tmp_path, hash_embedder):
    root = tmp_path / "in"
    page(root / "2020" / "11", "2020-11-16", 1)
    page(root / "2020" / "12", "2020-12-01", 3)
    (root / "2020" / "notes.md").write_text("not an edition", encoding="utf-8")  # skipped in folders
    (root / "2020" / "bad.jsonl").write_text("{not json\n", encoding="utf-8")
    (root / "2020" / "11" / "binary.txt").write_bytes(bytes(range(256)) * 8)
    seen = []
    result = add_editions(base, [root, tmp_path / "missing.txt"], model=hash_embedder, report=seen.append)
    assert seen == result.outcomes
    statuses = {Path(o.path).name: o.status for o in result.outcomes}
    assert statuses == {"bad.jsonl": "failed", "binary.txt": "failed", "edition-2020-11-16-p01.txt": "added",
                        "edition-2020-12-01-p03.txt": "added", "missing.txt": "failed"}
    for o in result.failed:
        assert o.error and "\n" not in o.error and Path(o.path).name in o.error
    assert [r.date for r in list_editions(base)] == ["2020-11-14", "2020-11-16", "2020-12-01"]


def test_date_and_page_apply_to_one_file(base, tmp_path, hash_embedder):
    one = tmp_path / "page.txt"
    shutil.copyfile(SAMPLE, one)
    result = add_editions(base, [one], model=hash_embedder, date="2021-01-02", page=4)
    assert result.outcomes[0].pages == (("2021-01-02", 4),)
    with pytest.raises(InputError, match="single edition file"):
        add_editions(base, [one, SAMPLE], model=hash_embedder, date="2021-01-02")


def test_an_existing_index_keeps_its_model(base):
    from qa.errors import IndexFormatError

    with pytest.raises(IndexFormatError, match="built with model"):
        add_editions(base, [SAMPLE], model="multilingual-e5-small")


# ---- other processes: the writer lock and SIGKILL ---------------------------------------


def leftovers(folder: Path, pid: int) -> list[Path]:
    """Temporary files and sibling folders of `folder`, and working copies of process `pid`."""
    return (sorted(folder.parent.glob(f".{folder.name}.tmp-*")) + sorted(folder.parent.glob(f".{folder.name}.old-*"))
            + sorted(folder.glob(".*.tmp-*"))
            + sorted(Path(tempfile.gettempdir()).glob(f"edition-qa-index-{pid}-*")))


def generations(folder: Path) -> tuple[int, list[str]]:
    """The generation manifest.json names, and the vectors files in the folder."""
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    return manifest["generation"], sorted(p.name for p in folder.glob("vectors-*.faiss"))


@pytest.mark.parametrize("point", ["file-added", "saving", "swapped"])
def test_killed_add_leaves_the_previous_index_and_the_next_add_completes(base, tmp_path, hash_embedder, point):
    before = content(base, hash_embedder)
    pages = [page(tmp_path / "in", f"2020-11-{d}", 1) for d in (15, 16, 17)]
    marker = tmp_path / "paused"
    proc = cli("add", *pages, "--index", base, pause=f"{point}:{marker}")
    wait_for(marker, proc)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    # What the killed add left: changes in an uncommitted transaction (file-added), a vectors file
    # nothing names yet (saving), or a committed version manifest.json does not show yet (swapped).
    assert generations(base) == (1, ["vectors-1.faiss"] if point == "file-added" else
                                 ["vectors-1.faiss", "vectors-2.faiss"])
    after = content(base, hash_embedder)  # loadable, store and vectors agree
    if point == "swapped":  # killed after the commit point, before manifest.json was replaced
        assert len(after[0]) == 4
    else:
        assert after == before

    again = cli("add", *pages, "--index", base)
    out, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    assert len(content(base, hash_embedder)[1]) == 4 * PASSAGES
    assert [r.date for r in list_editions(base)] == ["2020-11-14", "2020-11-15", "2020-11-16", "2020-11-17"]
    assert leftovers(base, proc.pid) == []
    assert generations(base) == (2, ["vectors-1.faiss", "vectors-2.faiss"])  # manifest.json repaired


def test_writers_take_turns_and_a_killed_writer_releases_the_lock(base, tmp_path, hash_embedder):
    first, second = page(tmp_path / "a", "2020-11-15", 1), page(tmp_path / "b", "2020-11-16", 1)
    marker = tmp_path / "paused"
    holder = cli("add", first, "--index", base, pause=f"file-added:{marker}")
    wait_for(marker, holder)
    waiter = cli("add", second, "--index", base)
    time.sleep(4)  # ample time to finish, were it not waiting for the lock
    assert waiter.poll() is None
    assert [r.date for r in list_editions(base)] == ["2020-11-14"]
    holder.send_signal(signal.SIGKILL)
    holder.communicate(timeout=30)
    out, err = waiter.communicate(timeout=120)
    assert waiter.returncode == 0, err
    assert [r.date for r in list_editions(base)] == ["2020-11-14", "2020-11-16"]


def test_two_adds_at_once_both_land(base, tmp_path):
    procs = [cli("add", page(tmp_path / str(d), f"2020-11-{d}", 1), "--index", base) for d in (20, 21)]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    assert [r.date for r in list_editions(base)] == ["2020-11-14", "2020-11-20", "2020-11-21"]
    manifest = json.loads((base / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["generation"] == 3 and manifest["counts"]["passages"] == 3 * PASSAGES
