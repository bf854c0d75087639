"""`bench load`: the HTTP client of the `/ask` endpoint, and a short run of the whole benchmark."""

from __future__ import annotations

import os
import socket

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from qa.errors import QAError  # noqa: E402
from qa.evaluation.load import ask_http, bench_load  # noqa: E402

pytestmark = [pytest.mark.filterwarnings("ignore:.*no_silent_downcasting"),
              pytest.mark.filterwarnings("ignore:The copy keyword is deprecated")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ask_http_through_the_rest_api(monkeypatch):
    from qa.app import ui
    from qa.types import Answer

    calls = []

    def fake(question, *, index, history, date, page, since=None, until=None):
        calls.append((question, date, page, since, until))
        if "boom" in question:
            raise RuntimeError("internal")
        return Answer(question, question, "42", (), 0.9)

    monkeypatch.setattr(ui, "_ask", fake)
    demo = ui.build_app(type("Empty", (), {"articles": lambda self: []})())
    url = ui.launch(demo, port=_free_port(), prevent_thread_lock=True, quiet=True)
    try:
        got = ask_http(url, "几公里？", date="2020-11-14", page=1, since="2020-11-01", until="2020-11-30")
        assert got["short_answer"] == "42" and got["citations"] == []
        assert calls[-1] == ("几公里？", "2020-11-14", 1, "2020-11-01", "2020-11-30")
        with pytest.raises(QAError, match="server error"):
            ask_http(url, "boom")
    finally:
        demo.close()


@pytest.mark.slow
@pytest.mark.parametrize("milvus", [False, True], ids=["folder", "milvus-lite-server"])
def test_bench_load_short_run(sample_index_dir, milvus):
    if milvus:
        pytest.importorskip("milvus_lite")
    report = bench_load(clients=2, seconds=3, index_dir=sample_index_dir, milvus=milvus)
    assert report["store"] == ("milvus-lite server" if milvus else "folder")
    assert report["errors"] == 0, report["error_samples"]
    assert report["answers"] > 0 and report["latency_ms_p50"] <= report["latency_ms_max"]
    assert report["add_exit_code"] == 0 and report["add_edition"] == "2020-11-15 p.1"
    assert report["answerable_at_end"] and "3.32" in report["check_answer"]
    assert report["check_cited"] == "2020-11-15 p.1"
