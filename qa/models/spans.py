"""What the reader found: candidate answer spans and a passage's reading, decoded from start and
end logits (`best_spans`) and trimmed to the text's edges (`trim_span`)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["MAX_ANSWER_TOKENS", "Reading", "Span", "best_spans", "trim_span"]

MAX_ANSWER_TOKENS = 48
_EDGE = " \t\r\n\u3000，。、；：,.;:!?！？)）]】」』\"'“”‘’"
_OPEN = "(（[【「『\"'“‘"


def trim_span(text: str, start: int, end: int) -> tuple[int, int]:
    """Drop spaces and closing punctuation at a span's edges (an open bracket only without its pair)."""
    while start < end and text[start] in _EDGE:
        start += 1
    while end > start and text[end - 1] in _EDGE + _OPEN:
        if text[end - 1] in "）)」』】]" and any(o in text[start:end] for o in "（(「『【["):
            break
        end -= 1
    if start < end and text[start] in _OPEN and not any(c in text[start:end] for c in "）)」』】]\"”’'"):
        start += 1
    return start, end



@dataclass(frozen=True)
class Span:
    """A candidate answer: chars [start, end) of passage `passage`, and how sure the reader is."""

    passage: int
    start: int
    end: int
    text: str
    score: float  # start + end logit
    margin: float  # score minus the passage's no-answer score
    prior: float = 0.0  # the length prior: weight x log(characters), fitted on dev data

    @property
    def rank(self) -> float:
        """What spans are ordered by: the margin less the length prior."""
        return self.margin - self.prior


@dataclass(frozen=True)
class Reading:
    """What the reader found in one passage: its best spans, best first, and its no-answer score."""

    passage: int
    null: float
    spans: tuple[Span, ...]
    best: float | None = None  # the best margin of every span read, kept or not
    read: bool = True  # False: left unread, the first passage answering surely (`Reader.read`)

    @classmethod
    def unread(cls, passage: int) -> Reading:
        """The Reading of a passage left unread: no spans, no no-answer score."""
        return cls(passage, math.nan, (), None, read=False)

    @property
    def margin(self) -> float:
        """The best margin of any span: how sure the reader is that the passage answers."""
        if self.best is not None:
            return self.best
        return max((s.margin for s in self.spans), default=-math.inf)


def best_spans(start: np.ndarray, end: np.ndarray, lo: int, hi: int, *, top: int = 5,
               max_len: int = MAX_ANSWER_TOKENS) -> list[tuple[float, int, int]]:
    """The `top` (score, i, j) with lo <= i <= j < hi and j - i < max_len, by start[i] + end[j]."""
    if hi <= lo:
        return []
    s, e = start[lo:hi], end[lo:hi]
    grid = s[:, None] + e[None, :]
    n = hi - lo
    i, j = np.indices((n, n))
    grid = np.where((j >= i) & (j - i < max_len), grid, -np.inf)
    flat = np.argsort(grid, axis=None)[::-1][:top]
    return [(float(grid.flat[f]), lo + f // n, lo + f % n) for f in flat if np.isfinite(grid.flat[f])]
