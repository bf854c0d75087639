"""A conversation: questions asked in turn, each resolved against the answers before it."""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

from qa.answers.ask import ask
from qa.types import Answer

__all__ = ["Conversation"]


class Conversation:
    """A chat session: each question is resolved against the most recent `max_turns` answers.

    Thread-safe: one lock per conversation keeps turns in order.
    """

    def __init__(self, index: Any = None, *, max_turns: int = 6, k: int = 5) -> None:
        if max_turns < 1:
            raise ValueError("max_turns must be at least 1")
        self.index = index
        self.k = k
        self.max_turns = max_turns
        self._turns: deque[Answer] = deque(maxlen=max_turns)
        self._lock = threading.Lock()

    @property
    def history(self) -> list[Answer]:
        """The kept answers, oldest first."""
        return list(self._turns)

    def ask(self, question: str, **options: Any) -> Answer:
        """Ask `question` in this conversation; the answer joins the (bounded) history."""
        with self._lock:
            answer = ask(question, index=self.index, history=list(self._turns), k=self.k, **options)
            self._turns.append(answer)
            return answer

    def clear(self) -> None:
        """Forget the conversation."""
        with self._lock:
            self._turns.clear()
