"""LiveIndex: a served index picks up new versions of its folder whole, between questions, while
another process adds editions; a broken new version never replaces a working one."""

from __future__ import annotations

import gc
import json
import threading
import time
import weakref

import pytest

from qa.search.retrieve import retrieve
from qa.store.archive import add_editions
from qa.store.index import Index
from qa.store.live import LiveIndex, snapshot

from archive_helpers import SAMPLE, cli, page

QUESTIONS = ["义乌绿色动力小镇的规划面积是多少？", "新增的植物园赛道有多长？", "马拉松有多少人参加？"]


def ranked(question: str, index) -> tuple:
    return tuple((h.article.id, h.passage.id) for h in retrieve(question, k=5, index=index))


@pytest.fixture
def folder(tmp_path, hash_embedder):
    folder = tmp_path / "idx"
    add_editions(folder, [SAMPLE], model=hash_embedder)
    return folder


def live_over(folder, embedder, **options) -> LiveIndex:
    return LiveIndex(folder, loader=lambda p: Index.load(p, model=embedder), **options)


def test_a_new_version_is_swapped_in_and_the_old_one_released(folder, tmp_path, hash_embedder):
    live = live_over(folder, hash_embedder, background=False)
    first = live.current()
    assert live.current() is first and snapshot(live) is first and snapshot(first) is first
    store = weakref.ref(first.store)
    add_editions(folder, [page(tmp_path / "in", "2020-11-15", 2)], model=hash_embedder)
    now = live.current()
    assert now is not first and live.swaps == 1
    assert now.manifest["generation"] == first.manifest["generation"] + 1 == 2
    assert len(now) == 2 * len(first)
    assert first.store.counts()["editions"] == 1  # a question still holding it can finish
    gone = weakref.ref(first)
    del first
    gc.collect()
    assert gone() is None and store() is None  # its snapshot of the store released


def test_background_load_keeps_answering_from_the_old_version(folder, tmp_path, hash_embedder):
    live = live_over(folder, hash_embedder)
    first = live.current()
    add_editions(folder, [page(tmp_path / "in", "2020-11-15", 2)], model=hash_embedder)
    assert live.current() is first  # noticed; loading in the background
    assert live.refresh() is True
    assert live.current() is not first and live.current().manifest["generation"] == 2


def test_a_broken_new_version_is_not_served(folder, hash_embedder, caplog):
    live = live_over(folder, hash_embedder, background=False)
    first = live.current()
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    (folder / "manifest.json").write_text(json.dumps({**manifest, "format_version": 99}), encoding="utf-8")
    assert live.current() is first and live.refresh() is False
    assert "still serving the previous one" in caplog.text
    assert ranked(QUESTIONS[0], live) == ranked(QUESTIONS[0], first)


def test_questions_while_another_process_adds_an_edition(folder, tmp_path, hash_embedder):
    new_page = page(tmp_path / "in", "2020-11-20", 5)
    copy = tmp_path / "expected"
    old = Index.load(folder, model=hash_embedder)
    expected_old = {q: ranked(q, old) for q in QUESTIONS}
    add_editions(copy, [SAMPLE, new_page], model=hash_embedder)
    new = Index.load(copy, model=hash_embedder)
    expected_new = {q: ranked(q, new) for q in QUESTIONS}
    assert expected_old != expected_new

    live = live_over(folder, hash_embedder)
    live.current()
    seen: list[tuple[str, tuple]] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def ask_forever() -> None:
        while not stop.is_set():
            for q in QUESTIONS:
                try:
                    seen.append((q, ranked(q, live)))
                except BaseException as exc:  # noqa: BLE001 - every error is a failure here
                    errors.append(exc)

    reader = threading.Thread(target=ask_forever)
    reader.start()
    try:
        writer = cli("add", new_page, "--index", folder)
        out, err = writer.communicate(timeout=120)
        assert writer.returncode == 0, err
        deadline = time.monotonic() + 30
        while live.current().manifest["generation"] != 2:
            assert time.monotonic() < deadline, "the new version was never picked up"
            time.sleep(0.05)
        time.sleep(0.2)
    finally:
        stop.set()
        reader.join(timeout=60)
    assert errors == []
    assert all(r in (expected_old[q], expected_new[q]) for q, r in seen)
    assert {r for q, r in seen if q == QUESTIONS[0]} == {expected_old[QUESTIONS[0]], expected_new[QUESTIONS[0]]}
    hits = retrieve(QUESTIONS[0], k=3, index=live, date="2020-11-20")
    assert hits and all(h.article.date == "2020-11-20" and h.article.page == 5 for h in hits)
