"""Training examples for the reader: SQuAD-format data -> passages with and without the answer.

Examples are made the way the reader is used: each paragraph is cut into the index's passages
(`qa.editions.chunk`, 250 chars); a question is paired with the passage holding its answer (target: the
answer's tokens) and with passages that do not (target: `<s>`, "not in this passage"): one of
its own paragraph's other passages (the hard case: same topic, no answer) and, for some, a
passage of another article or a question of noise.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from typing import Any

from qa.editions.chunk import chunk_article
from qa.models.reader import Tokens, answer_tokens, reading_form
from qa.squad import read_squad
from qa.text import split_sentences
from qa.types import Article

__all__ = ["TrainSettings", "featurize", "load_squad", "make_examples"]


@dataclass(frozen=True)
class TrainSettings:
    """Everything that decides the trained weights (recorded in reader.json)."""

    first_trained: int = 6  # blocks below this stay e5's (cached); the rest are trained
    epochs: float = 2.0
    batch_size: int = 32
    lr: float = 3e-4
    warmup: float = 0.06
    weight_decay: float = 0.01
    passage_chars: int = 250
    max_tokens: int = 256
    hard_negatives: int = 1  # other passages of the same paragraph, per question
    random_negatives: float = 0.25  # passages of another paragraph, per question
    noise_questions: float = 0.03  # made-up questions of noise, per question
    # the passage holding the answer with the sentence(s) holding it cut out, per question: the
    # same words around a gap, "the topic is here, the answer is not" (0 in the first run)
    answer_removed: float = 0.0
    # read questions and passages as the reader does (`qa.models.reader.reading_form`: no OCR
    # spaces next to CJK characters); off in the first run, which predates it
    reading_form: bool = False
    # Dropout off: on the CPU its random masks cost 6x the forward pass of the upper blocks
    # (measured: 2.3 s vs 0.33 s for 32 x 192 tokens in bf16), and two epochs do not overfit.
    dropout: float = 0.0
    seed: int = 13


def load_squad(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Questions of a SQuAD-format file: id, question, context, answers [(text, start)], title.

    Answer texts are stripped; one found nowhere in its context is left out.
    """
    out = []
    for para in read_squad(path):
        for q in para.questions:
            answers = []
            for text, start in q.answers:
                stripped = text.strip()
                if para.context[start:start + len(stripped)] != stripped:
                    start = para.context.find(stripped)
                if start >= 0:
                    answers.append((stripped, start))
            out.append({"id": q.id, "question": q.question.strip(), "context": para.context,
                        "answers": answers, "title": para.title})
    return out


def _passages(context: str, size: int) -> list[tuple[int, int]]:
    return [(p.start, p.end) for p in chunk_article(Article("x", "", 0, body=context), size=size)]


def _noise(rng: random.Random, pool: str) -> str:
    """A made-up question of noise: symbols, random characters, or random words."""
    kind = rng.randrange(4)
    if kind == 0:
        return "".join(rng.choice("%$#@!{}[]<>()*&^~`|\\/;:'\"?=+-_.,0123456789") for _ in range(rng.randint(2, 20)))
    if kind == 1:
        return "".join(rng.choice(pool) for _ in range(rng.randint(2, 16))) + rng.choice(["", "？", "?"])
    if kind == 2:
        words = "the of select from where table null true false lorem ipsum dolor hello test asdf qwerty".split()
        return " ".join(rng.choice(words) for _ in range(rng.randint(1, 8)))
    return "".join(chr(rng.randint(0x1F300, 0x1F64F)) for _ in range(rng.randint(1, 6)))


def _without_answer(passage: str, a: int, b: int) -> str:
    """`passage` with the sentences that chars [a, b) fall in cut out."""
    spans = [(s, e) for s, e in split_sentences(passage) if s < b and a < e]
    if not spans:
        return ""
    return (passage[:spans[0][0]] + passage[spans[-1][1]:]).strip()


def _in_reading_form(question: str, passage: str, span: tuple[int, int] | None
                     ) -> tuple[str, str, tuple[int, int] | None] | None:
    """An example as the reader reads it: question and passage in reading form, the answer's
    chars moved with them (None if nothing of the answer is left)."""
    form, offsets = reading_form(passage)
    if span is not None:
        kept = [k for k, o in enumerate(offsets) if span[0] <= o < span[1]]
        if not kept:
            return None
        span = (kept[0], kept[-1] + 1)
    return reading_form(question)[0], form, span


def make_examples(items: list[dict[str, Any]], settings: TrainSettings) -> list[tuple[str, str, tuple[int, int] | None]]:
    """(question, passage, answer chars in the passage or None) pairs, in a seeded random order."""
    rng = random.Random(settings.seed)
    cut: dict[str, list[tuple[int, int]]] = {}
    out: list[tuple[str, str, tuple[int, int] | None]] = []
    contexts = sorted({it["context"] for it in items})
    pool = "".join(contexts[:200])
    for it in items:
        if not it["answers"]:
            continue
        ctx = it["context"]
        spans = cut.setdefault(ctx, _passages(ctx, settings.passage_chars))
        text, a = it["answers"][0]
        b = a + len(text)
        holding = [(s, e) for s, e in spans if s <= a and b <= e]
        if holding:
            s, e = rng.choice(holding)
        else:  # the answer crosses a passage boundary: a window around it
            s, e = max(0, a - settings.passage_chars // 2), min(len(ctx), b + settings.passage_chars // 2)
        out.append((it["question"], ctx[s:e], (a - s, b - s)))
        if settings.answer_removed and rng.random() < settings.answer_removed:
            rest = _without_answer(ctx[s:e], a - s, b - s)
            if len(rest) >= 20 and text not in rest:
                out.append((it["question"], rest, None))
        others = [(s, e) for s, e in spans if (e <= a or s >= b) and text not in ctx[s:e]]
        for s, e in rng.sample(others, min(settings.hard_negatives, len(others))):
            out.append((it["question"], ctx[s:e], None))
        if rng.random() < settings.random_negatives:
            other = rng.choice(contexts)
            if other != ctx and text not in other:
                s, e = rng.choice(cut.setdefault(other, _passages(other, settings.passage_chars)))
                out.append((it["question"], other[s:e], None))
        if rng.random() < settings.noise_questions:
            s, e = rng.choice(spans)
            out.append((_noise(rng, pool), ctx[s:e], None))
    rng.shuffle(out)
    if settings.reading_form:
        out = [moved for ex in out if (moved := _in_reading_form(*ex)) is not None]
    return out


def featurize(examples: list[tuple[str, str, tuple[int, int] | None]], tokens: Tokens,
              max_tokens: int) -> tuple[list[list[int]], list[int], list[tuple[int, int]]]:
    """Token ids, first passage position and (start, end) token targets ((0, 0): no answer)."""
    ids, firsts, targets = [], [], []
    for question, passage, span in examples:
        windows = tokens.windows(question, [passage], max_tokens=max_tokens)
        if span is None:
            w, target = windows[0], (0, 0)
        else:
            placed = [(w, t) for w in windows if (t := answer_tokens(w, *span)) is not None]
            if not placed:
                continue  # the answer is longer than a window: nothing to learn from
            w, target = placed[0]
        ids.append(w.ids)
        firsts.append(w.first)
        targets.append(target)
    return ids, firsts, targets
