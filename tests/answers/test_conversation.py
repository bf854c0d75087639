"""The bounded Conversation."""

from __future__ import annotations

import pytest

from qa.answers.conversation import Conversation
from qa.answers.followup import resolve_question
from qa.types import Answer


def test_conversation_keeps_only_the_latest_turns(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[list[Answer]] = []

    def fake_ask(question, *, index=None, history=None, k=5, **_):
        seen.append(list(history or []))
        return Answer(question, resolve_question(question, history))

    monkeypatch.setattr("qa.answers.conversation.ask", fake_ask)
    chat = Conversation(max_turns=2)
    for q in ("一？", "二？", "三？", "四？"):
        chat.ask(q)
    assert [a.question for a in chat.history] == ["三？", "四？"]
    assert [a.question for a in seen[-1]] == ["二？", "三？"]  # the 4th question saw the 2 before it
    chat.clear()
    assert chat.history == []
    with pytest.raises(ValueError):
        Conversation(max_turns=0)
