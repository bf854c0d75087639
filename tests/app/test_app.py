"""The chat UI's turn logic and its `/ask` API endpoint, called through gradio_client."""

from __future__ import annotations

import logging
import os
import socket
import threading

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from qa.app import render, ui  # noqa: E402
from qa.errors import QuestionError  # noqa: E402
from qa.types import Answer, Article, Citation  # noqa: E402

# Gradio's queue statistics use pandas options that pandas 3 deprecates: not ours to fix.
pytestmark = [pytest.mark.filterwarnings("ignore:.*no_silent_downcasting"),
              pytest.mark.filterwarnings("ignore:The copy keyword is deprecated")]

BODY = "本报讯 参赛选手进入义乌植物园，在这座“城市绿肺”中穿行4公里。\n本届赛事共有近10000人参与。"
ARTICLE = Article(id="m", date="2020-11-14", page=1, headline="2020年义乌国际半程马拉松今日开跑",
                  byline=("全媒体记者 卢丽珍",), body=BODY)
EXTRACT = "参赛选手进入义乌植物园，在这座“城市绿肺”中穿行4公里。"


class FakeIndex:
    def __init__(self, articles=(ARTICLE,)):
        self._articles = list(articles)

    def articles(self):
        return self._articles


class FakeAsk:
    """Stands in for qa.answers.ask.ask: records calls, answers from ARTICLE, fails on request."""

    def __init__(self):
        self.calls = []
        self.lock = threading.Lock()

    def __call__(self, question, *, index, history, date, page, since=None, until=None):
        with self.lock:
            self.calls.append({"question": question, "history": list(history), "date": date, "page": page,
                               "since": since, "until": until})
        if "boom" in question:
            raise RuntimeError("internal failure")
        if "empty" in question:
            raise QuestionError("The question has no searchable words; try rephrasing it.")
        start = BODY.index(EXTRACT)
        hl = (EXTRACT.index("4公里"), EXTRACT.index("4公里") + 3)
        resolved = question if not history else f"马拉松 {question}"
        cite = Citation(1, ARTICLE, EXTRACT, start, start + len(EXTRACT), hl)
        return Answer(question, resolved, "4公里", (cite,), 0.9)


@pytest.fixture
def fake_ask(monkeypatch):
    fake = FakeAsk()
    monkeypatch.setattr(ui, "_ask", fake)
    return fake


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_turn_answers_and_keeps_history(fake_ask):
    session, answer = ui.answer_turn(FakeIndex(), "新增的植物园赛道有多长？", None)
    assert answer is not None and answer.short_answer == "4公里"
    assert [m["role"] for m in session.messages] == ["user", "assistant"]
    assert "<mark>4公里</mark>" in session.messages[1]["content"]
    session, follow = ui.answer_turn(FakeIndex(), "参赛人数呢？", session)
    assert fake_ask.calls[1]["history"] == [answer]
    assert "Understood as" in session.messages[-1]["content"]
    for i in range(ui.MAX_TURNS + 3):
        session, _ = ui.answer_turn(FakeIndex(), f"问题{i}？", session)
    assert len(fake_ask.calls[-1]["history"]) == ui.MAX_TURNS
    assert fake_ask.calls[-1]["history"][-1].question == f"问题{ui.MAX_TURNS + 1}？"  # the latest kept


def test_turn_empty_question_prompts_without_asking(fake_ask):
    session, answer = ui.answer_turn(FakeIndex(), "   ", None)
    assert answer is None and not fake_ask.calls
    assert [m["role"] for m in session.messages] == ["assistant"]
    assert "Please type a question" in session.messages[0]["content"]


def test_turn_long_question_is_cut_with_notice(fake_ask):
    session, _ = ui.answer_turn(FakeIndex(), "马" * 1500, None)
    assert len(fake_ask.calls[0]["question"]) == render.MAX_QUESTION_CHARS
    assert "cut to its first 1000 characters" in session.messages[-1]["content"]


def test_turn_internal_error_is_logged_and_session_continues(fake_ask, caplog):
    with caplog.at_level(logging.ERROR, logger="qa.app.ui"):
        session, answer = ui.answer_turn(FakeIndex(), "boom？", None)
    assert answer is None
    assert ui.ERROR_MESSAGE.split(",")[0] in session.messages[-1]["content"]
    assert "internal failure" not in session.messages[-1]["content"]
    assert any("answering failed" in r.message for r in caplog.records)
    session, answer = ui.answer_turn(FakeIndex(), "新增的植物园赛道有多长？", session)
    assert answer is not None and len(session.messages) == 4


def test_turn_user_error_shows_its_message(fake_ask):
    session, answer = ui.answer_turn(FakeIndex(), "empty？", None)
    assert answer is None and "try rephrasing" in session.messages[-1]["content"]


def test_filters_follow_the_editions():
    other = Article(id="x", date="2020-11-15", page=2, body="第二天的消息。")
    assert ui.editions_of(FakeIndex()) == [("2020-11-14", 1)]
    assert ui.editions_of(FakeIndex([ARTICLE, other])) == [("2020-11-14", 1), ("2020-11-15", 2)]


def test_respond_passes_filters_and_fills_panels(fake_ask):
    messages, session, box, picker, source, hits = ui.respond(FakeIndex(), "植物园？", "2020-11-14", "1", None)
    assert fake_ask.calls[-1]["date"] == "2020-11-14" and fake_ask.calls[-1]["page"] == 1
    assert box == "" and len(messages) == 2 and session.answer is not None
    assert picker["choices"][0][1] == "1" and picker["value"] == "1"
    assert "qa-span" in source and "2020年义乌国际半程马拉松今日开跑" in source
    ui.respond(FakeIndex(), "植物园？", ui.ALL, ui.ALL, session)
    assert fake_ask.calls[-1]["date"] is None and fake_ask.calls[-1]["page"] is None
    assert fake_ask.calls[-1]["since"] is None and fake_ask.calls[-1]["until"] is None
    ui.respond(FakeIndex(), "植物园？", ui.ALL, ui.ALL, session, since="2020-11-01", until="")
    assert (fake_ask.calls[-1]["since"], fake_ask.calls[-1]["until"]) == ("2020-11-01", None)
    messages, session, *_ = ui.respond(FakeIndex(), "", ui.ALL, ui.ALL, session)
    assert len(messages) == 7 and "Please type" in messages[-1]["content"]


def test_sample_questions_or_fallback(monkeypatch, tmp_path):
    qs = ui.sample_questions()
    assert qs and all(isinstance(q, str) and q for q in qs)
    monkeypatch.setattr(ui.paths, "sample_questions", lambda: tmp_path / "missing.jsonl")
    assert ui.sample_questions() == list(ui.FALLBACK_EXAMPLES)


@pytest.fixture
def fake_app(fake_ask):
    demo = ui.build_app(FakeIndex())
    url = ui.launch(demo, port=free_port(), prevent_thread_lock=True, quiet=True)
    yield url
    demo.close()


def test_api_ask_endpoint(fake_app, fake_ask):
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    client = Client(fake_app, verbose=False)
    assert "/ask" in client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    result = client.predict("新增的植物园赛道有多长？", [], "", 0, api_name="/ask")
    assert result["short_answer"] == "4公里"
    cite = result["citations"][0]
    assert cite["headline"] == "2020年义乌国际半程马拉松今日开跑" and cite["page"] == 1
    assert cite["extract"][cite["highlight"][0]:cite["highlight"][1]] == "4公里"
    assert (fake_ask.calls[-1]["since"], fake_ask.calls[-1]["until"]) == (None, None)
    client.predict("植物园？", [], "", 0, "2020-11-01", "2020-11-30", api_name="/ask")
    assert (fake_ask.calls[-1]["since"], fake_ask.calls[-1]["until"]) == ("2020-11-01", "2020-11-30")
    follow = client.predict("参赛人数呢？", ["新增的植物园赛道有多长？"], "", 0, api_name="/ask")
    assert follow["resolved_question"] == "马拉松 参赛人数呢？"
    assert fake_ask.calls[-1]["history"] == ["新增的植物园赛道有多长？"]
    with pytest.raises(AppError, match="empty"):
        client.predict("  ", [], "", 0, api_name="/ask")
    with pytest.raises(AppError, match="went wrong"):
        client.predict("boom", [], "", 0, api_name="/ask")
    # the app keeps serving after an error
    assert client.predict("植物园？", api_name="/ask")["short_answer"] == "4公里"


@pytest.mark.slow
def test_api_ask_real_model_concurrent(sample_index):
    """The real pipeline over the sample index, two clients at once."""
    from gradio_client import Client

    demo = ui.build_app(sample_index)
    url = ui.launch(demo, port=free_port(), prevent_thread_lock=True, quiet=True)
    try:
        results: dict[int, dict] = {}

        def run(i: int) -> None:
            client = Client(url, verbose=False)
            results[i] = client.predict("义马的参赛人员来自多少个国家和地区？", [], "", 0, api_name="/ask")

        threads = [threading.Thread(target=run, args=(i,)) for i in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert len(results) == 3
        for r in results.values():
            assert not r["no_answer"] and r["short_answer"] == "21个国家和地区"
            assert "21个国家和地区" in r["citations"][0]["extract"]
            assert r["citations"][0]["headline"] == "2020年义乌国际半程马拉松今日开跑"
    finally:
        demo.close()


def test_served_index_sees_editions_added_later(tmp_path, hash_embedder):
    import shutil

    from qa.paths import sample_editions
    from qa.store.archive import add_editions

    folder = tmp_path / "idx"
    sample = sample_editions()[0].path
    add_editions(folder, [sample], model=hash_embedder)
    live = ui.load_index(folder)
    assert ui.editions_of(live) == [("2020-11-14", 1)]
    shutil.copyfile(sample, tmp_path / "edition-2020-11-15-p02.txt")
    add_editions(folder, [tmp_path / "edition-2020-11-15-p02.txt"], model=hash_embedder)
    live.refresh()
    assert ui.editions_of(live) == [("2020-11-14", 1), ("2020-11-15", 2)]
