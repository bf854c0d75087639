"""The chat UI: a Gradio Blocks app, thin over `qa.answers.ask.ask`.

One index and one embedding model are loaded at start and shared by every session (a newer
version of the index folder is swapped in between questions, see `load_index`); each
browser session keeps its own conversation in `gr.State`. HTML comes from `qa.app.render`, which
escapes all edition and question text.

API: the endpoint `/ask` (see `api_ask`) answers one question and returns the same JSON as
`edition-qa ask --json`; pass the earlier questions of the conversation as `history` to get
follow-ups resolved. From Python::

    from gradio_client import Client
    client = Client("http://127.0.0.1:7860/")
    first = client.predict("新增的植物园赛道有多长？", [], "", 0, api_name="/ask")
    follow = client.predict("参赛人数呢？", ["新增的植物园赛道有多长？"], "", 0, api_name="/ask")
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Before gradio is imported: it reads these at import time.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402

from qa import paths  # noqa: E402
from qa.app import render  # noqa: E402
from qa.app.archive_panel import MAX_UPLOAD_BYTES, build_add_panel, can_add, editions_of, front_page  # noqa: E402
from qa.errors import QAError  # noqa: E402
from qa.types import Answer  # noqa: E402

log = logging.getLogger(__name__)

MAX_TURNS = 6  # earlier answers passed to ask() for follow-ups: the most recent ones
MAX_MESSAGES = 200  # chat messages kept per session, so a long session stays bounded
ALL = "All"
REFRESH_S = 10  # how often an open page checks for a newer version of the index
FALLBACK_EXAMPLES = (
    "新增的植物园赛道有多长？",
    "义乌绿色动力小镇的规划面积是多少？",
    "How many people take part in the Yiwu half marathon?",
)
# The question the empty question box shows (and the empty-question reply suggests).
PLACEHOLDER_QUESTION = "新增的植物园赛道有多长？"
EMPTY_PROMPT = f"Please type a question about the edition, for example: {PLACEHOLDER_QUESTION}"
ERROR_MESSAGE = "Sorry, something went wrong while answering. The error was logged; please try again."


# Runs in the browser after the source panel is updated: scroll the panel (not the page) so the
# highlighted extract sits a third of the way down. Retries briefly while the DOM catches up.
SCROLL_JS = f"""
() => {{
  const go = (tries) => {{
    const box = document.querySelector('#qa-source .qa-source-body');
    const el = document.getElementById('{render.SOURCE_MARK_ID}');
    if (box && el && box.contains(el)) {{
      box.scrollTop += el.getBoundingClientRect().top - box.getBoundingClientRect().top - box.clientHeight / 3;
      window.qaSourceScrolls = (window.qaSourceScrolls || 0) + 1;  // lets the browser test wait
    }} else if (tries > 0) {{
      setTimeout(() => go(tries - 1), 50);
    }}
  }};
  requestAnimationFrame(() => go(20));
}}
"""

# Runs once on page load: clicking a citation of the latest answer in the chat selects it in the
# citation picker, which switches the source panel.
PAGE_JS = """
() => {
  document.addEventListener('click', (ev) => {
    const item = ev.target.closest && ev.target.closest('#qa-chat .qa-cites li');
    if (!item) return;
    const bots = document.querySelectorAll('#qa-chat [data-testid=bot]');
    if (!bots.length || !bots[bots.length - 1].contains(item)) return;
    const num = item.querySelector('.qa-n');  // "[2]"; the chat's sanitizer drops data-* attributes
    const n = num ? num.textContent.replace(/[^0-9]/g, '') : '';
    const input = n && document.querySelector('#qa-picker input[value="' + n + '"]');
    if (input && !input.checked) input.click();
  });
}
"""


@dataclass
class Session:
    """One browser session's conversation: earlier answers (for follow-ups) and chat messages."""

    history: list[Answer] = field(default_factory=list)
    messages: list[dict[str, str]] = field(default_factory=list)
    answer: Answer | None = None

    def add(self, user_html: str | None, reply_html: str) -> None:
        if user_html is not None:
            self.messages.append({"role": "user", "content": user_html})
        self.messages.append({"role": "assistant", "content": reply_html})
        del self.messages[:-MAX_MESSAGES]


def _ask(question: str, *, index: Any, history: Sequence[Answer | str], date: str | None,
         page: int | None, since: str | None = None, until: str | None = None) -> Answer:
    """Indirection so tests can replace the answering backend."""
    from qa.answers.ask import ask

    return ask(question, index=index, history=list(history), date=date, page=page, since=since, until=until)


def load_index(index_dir: Path | str | None = None) -> Any:
    """The index at `index_dir` (a folder or Milvus URI), or the default one (built when missing); a
    folder as a `qa.store.live.LiveIndex`, which serves a newer version of it without a restart."""
    from qa.store.index import Index, default_live
    from qa.store.live import LiveIndex
    from qa.store.location import open_index, parse_location

    explicit = index_dir if index_dir is not None else os.environ.get("EDITION_QA_INDEX")
    where = parse_location(explicit) if explicit else None
    if where is not None and where.is_milvus:
        return open_index(where)
    live = default_live() if where is None else LiveIndex(Path(where.target), loader=Index.load)
    live.current()  # load now: a missing or damaged index fails at start, not on a question
    return live


def sample_questions(*, limit: int = 8) -> list[str]:
    """Example questions: the first question about each item of the fixed question set (ids
    are ITEM-NN), answerable and not a follow-up; a few built-in ones when it is absent."""
    import json

    found: dict[str, str] = {}
    try:
        for line in paths.sample_questions().read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                item = str(row.get("id", "")).split("-")[0]
                if row.get("answerable", True) and not row.get("turns") and row.get("question"):
                    found.setdefault(item, row["question"])
    except (OSError, ValueError, AttributeError):
        pass
    return list(found.values())[:limit] if found else list(FALLBACK_EXAMPLES)


def _filter_value(choice: Any) -> Any:
    return None if choice in (None, "", ALL) else choice


def answer_turn(index: Any, question: str, session: Session | None, *, date: str | None = None,
                page: int | None = None, since: str | None = None,
                until: str | None = None) -> tuple[Session, Answer | None]:
    """Ask one question in a session; every outcome (prompt, error, answer) becomes chat messages."""
    session = session if session is not None else Session()
    text, cut = render.clip_question(question)
    if not text:
        session.add(None, render.render_notice(EMPTY_PROMPT))
        return session, None
    notices = [f"Your question was cut to its first {render.MAX_QUESTION_CHARS} characters."] if cut else []
    try:
        answer = _ask(text, index=index, history=session.history[-MAX_TURNS:], date=date, page=page,
                      since=since, until=until)
    except QAError as exc:
        session.add(render.render_question(text), render.render_notice(str(exc)))
        return session, None
    except Exception:
        log.exception("answering failed for question %r", text[:200])
        session.add(render.render_question(text), render.render_notice(ERROR_MESSAGE))
        return session, None
    session.history = (session.history + [answer])[-MAX_TURNS:]
    session.answer = answer
    session.add(render.render_question(text), render.render_answer(answer, notices=notices))
    return session, answer


def _source_for(answer: Answer | None, n: Any) -> str:
    if answer is None:
        return render.render_source(None)
    cites = render.source_citations(answer)
    chosen = next((c for c in cites if str(c.n) == str(n)), cites[0] if cites else None)
    return render.render_source(chosen, related=answer.no_answer)


def respond(index: Any, question: str, date: Any, page: Any, session: Session | None,
            since: Any = None, until: Any = None) -> tuple:
    """The chat's submit handler: (messages, session, textbox, picker, source panel, passages)."""
    page_value = _filter_value(page)
    session, answer = answer_turn(index, question, session, date=_filter_value(date),
                                  page=int(page_value) if page_value is not None else None,
                                  since=_filter_value(since), until=_filter_value(until))
    if answer is None:  # a prompt or an error: keep the panels of the last answer
        return list(session.messages), session, "", gr.skip(), gr.skip(), gr.skip()
    choices = [(render.citation_label(c), str(c.n)) for c in render.source_citations(answer)]
    return (list(session.messages), session, "",
            gr.update(choices=choices, value=choices[0][1] if choices else None),
            _source_for(answer, 1), render.render_hits(answer.hits))


def build_app(index: Any, *, read_only: bool = False) -> gr.Blocks:
    """The Blocks app over a loaded index (not launched; see `serve`). The "Add edition" panel
    is there when `index` is a served folder (a LiveIndex) or Milvus collection and not `read_only`."""
    front = front_page(index)
    several = front.several

    def on_submit(question: str, date: str, page: Any, since: Any, until: Any,
                  session: Session | None) -> tuple:
        return respond(index, question, date, page, session, since=since, until=until)

    def refresh(shown: Any) -> tuple:
        """The header, editions table and filters, when a newer version is being served."""
        now = front_page(index)
        if shown == now.key:
            return (gr.skip(),) * 6
        return (now.key, now.header_html(), now.archive_html(), gr.update(visible=now.several),
                gr.update(choices=[ALL, *now.dates]), gr.update(choices=[ALL, *map(str, now.pages)]))

    def choose(n: Any, session: Session | None) -> str:
        return _source_for(session.answer if session else None, n)

    def clear():
        return [], Session(), "", gr.update(choices=[], value=None), render.render_source(None), render.render_hits(())

    def api_ask(question: str, history: list[str] | None = None, date: str = "", page: int = 0,
                since: str = "", until: str = "") -> dict:
        """Answer one question about the edition, as cited extracts.

        Args:
            question: the question, Chinese or English (at most 1000 characters are used).
            history: earlier questions of the conversation, oldest first, to resolve follow-ups.
            date: only search the edition of this ISO date ("" for all).
            page: only search this page (0 for all).
            since, until: only search editions of these ISO dates or between them ("" for open).
        Returns:
            {question, resolved_question, short_answer, no_answer, confidence, citations: [{n,
            article_id, headline, byline, date, page, extract, start, end, highlight}]}, as
            `edition-qa ask --json` prints it.
        """
        text, _ = render.clip_question(question or "")
        if not text:
            raise gr.Error("The question is empty.")
        past = [render.clip_question(h)[0] for h in (history or []) if isinstance(h, str) and h.strip()]
        try:
            answer = _ask(text, index=index, history=past[-MAX_TURNS:], date=date or None, page=page or None,
                          since=since or None, until=until or None)
        except QAError as exc:
            raise gr.Error(str(exc)) from exc
        except Exception as exc:
            log.exception("API ask failed for question %r", text[:200])
            raise gr.Error(ERROR_MESSAGE) from exc
        return render.answer_json(answer)

    with gr.Blocks(title="edition-qa", analytics_enabled=False) as demo:
        header = gr.HTML(front.header_html(), elem_id="qa-header")
        with gr.Accordion("Editions in the archive", open=False, elem_id="qa-archive-acc"):
            archive = gr.HTML(front.archive_html(), elem_id="qa-archive")
        session, shown = gr.State(None), gr.State(front.key)
        with gr.Row():
            with gr.Column(scale=3):
                chat = gr.Chatbot(label="Chat", height=520, elem_id="qa-chat", latex_delimiters=[],
                                  feedback_options=None, buttons=["copy"])
                with gr.Row():
                    question = gr.Textbox(placeholder=f"Ask a question, e.g. {PLACEHOLDER_QUESTION}",
                                          show_label=False, scale=5, elem_id="qa-question",
                                          max_lines=4, autofocus=True)
                    send = gr.Button("Ask", variant="primary", scale=1, elem_id="qa-send")
                    clear_btn = gr.Button("Clear", scale=1, elem_id="qa-clear")
                with gr.Row(visible=several) as filters:
                    date_box = gr.Dropdown([ALL, *front.dates], value=ALL, label="Edition date",
                                           interactive=True, elem_id="qa-date")
                    page_box = gr.Dropdown([ALL, *map(str, front.pages)], value=ALL, label="Page",
                                           interactive=True, elem_id="qa-page")
                    since_box = gr.DateTime(label="From", include_time=False, type="string",
                                            elem_id="qa-since")
                    until_box = gr.DateTime(label="To", include_time=False, type="string",
                                            elem_id="qa-until")
                gr.Examples([[q] for q in sample_questions()], inputs=[question], label="Example questions")
                with gr.Accordion("Retrieved passages", open=False, elem_id="qa-hits-acc"):
                    hits_html = gr.HTML(render.render_hits(()), elem_id="qa-hits")
            with gr.Column(scale=2):
                picker = gr.Radio([], label="Citation shown in the source panel", elem_id="qa-picker")
                source = gr.HTML(render.render_source(None), elem_id="qa-source")
                added = build_add_panel(index) if can_add(index, read_only=read_only) else None

        outputs = [chat, session, question, picker, source, hits_html]
        for trigger in (question.submit, send.click):
            trigger(on_submit, [question, date_box, page_box, since_box, until_box, session], outputs,
                    api_visibility="private").then(None, js=SCROLL_JS)
        picker.input(choose, [picker, session], [source], api_visibility="private").then(None, js=SCROLL_JS)
        clear_btn.click(clear, None, outputs, api_visibility="private", queue=False)
        # The chatbot's own trash icon clears the display; the session must forget too.
        chat.clear(clear, None, outputs, api_visibility="private", queue=False)
        gr.api(api_ask, api_name="ask")
        # A newer version of the index (an add here or from another process) updates the front page.
        front_outputs = [shown, header, archive, filters, date_box, page_box]
        demo.load(refresh, [shown], front_outputs, api_visibility="private", queue=False)
        gr.Timer(REFRESH_S).tick(refresh, [shown], front_outputs, api_visibility="private", queue=False)
        if added is not None:
            added.then(refresh, [shown], front_outputs, api_visibility="private", queue=False)
    return demo


def warm_up(index: Any) -> None:
    """Load the model and caches with one question so the first user does not wait."""
    try:
        from qa.answers.ask import warm

        warm(index)  # load the reader and read once, before the first question
        _ask(FALLBACK_EXAMPLES[0], index=index, history=(), date=None, page=None)
    except Exception:  # a failing warm-up shows up on the first real question, with a message
        log.exception("warm-up question failed")


def launch(demo: gr.Blocks, *, host: str = "127.0.0.1", port: int = 7860,
           prevent_thread_lock: bool = False, quiet: bool = False) -> str:
    """Start serving `demo` (queue, theme, CSS, no SSR); returns the local URL.

    Blocks until the server stops unless `prevent_thread_lock` is true. One request is sent
    through the running server first: Gradio's first event costs about 1.5 s of one-off setup,
    which should not land on the first user.
    """
    # Two workers for two cores: the model is shared, sessions are independent.
    demo.queue(default_concurrency_limit=2)
    demo.launch(server_name=host, server_port=port, prevent_thread_lock=True, ssr_mode=False,
                css=render.CSS, js=PAGE_JS, quiet=quiet, show_error=False, footer_links=["api"],
                max_file_size=MAX_UPLOAD_BYTES)
    url = demo.local_url or f"http://{host}:{port}/"
    _warm_server(url)
    if not prevent_thread_lock:
        demo.block_thread()
    return url


def _warm_server(url: str) -> None:
    try:
        from gradio_client import Client

        Client(url, verbose=False).predict(FALLBACK_EXAMPLES[0], [], "", 0, api_name="/ask")
    except Exception:  # only a warm-up: the app serves without it
        log.warning("warm-up request to %s failed", url, exc_info=True)


def serve(*, host: str = "127.0.0.1", port: int = 7860, index_dir: Path | str | None = None,
          prevent_thread_lock: bool = False, quiet: bool = False, read_only: bool = False) -> gr.Blocks:
    """Load the index and model once, then serve the chat UI on http://host:port/.

    Args:
        host: interface to listen on (default 127.0.0.1: this machine only).
        port: TCP port (default 7860).
        index_dir: index folder; None uses index/default, built from the sample if missing.
        prevent_thread_lock: return once serving instead of blocking (tests).
        quiet: do not print the URL banner.
        read_only: no "Add edition" panel, and no add endpoint (a public deployment).
    Returns:
        The running app (call `.close()` to stop it).
    """
    index = load_index(index_dir)
    warm_up(index)
    demo = build_app(index, read_only=read_only)
    launch(demo, host=host, port=port, prevent_thread_lock=prevent_thread_lock, quiet=quiet)
    return demo


def main(argv: Sequence[str] | None = None) -> int:
    """`python app.py [--host H] [--port P] [--index DIR] [--read-only]`."""
    parser = argparse.ArgumentParser(description="Chat UI over an edition index.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--index", metavar="DIR|URI", help="index folder or Milvus URI (default: index/default, built if missing)")
    parser.add_argument("--read-only", action="store_true", help="no adding editions from the UI or the API")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("qa").setLevel(logging.INFO)
    try:
        serve(host=args.host, port=args.port, index_dir=args.index, read_only=args.read_only)
    except QAError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


__all__ = ["Session", "answer_turn", "build_app", "editions_of", "launch", "load_index", "main", "serve"]
