"""Question sets: the JSONL format of the bundled set, read and validated."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qa.errors import InputError
from qa.text import has_han

__all__ = ["Question", "guess_lang", "load_questions"]


@dataclass(frozen=True)
class Question:
    """One line of a question set; `turns` are earlier questions of the conversation, oldest first;
    `topic` (follow-ups) holds words of which a correctly resolved question names at least one."""

    id: str
    question: str
    answers: tuple[str, ...] = ()
    answerable: bool = True
    turns: tuple[str, ...] = ()
    lang: str = "zh"
    topic: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"id": self.id, "question": self.question, "answers": list(self.answers)}
        if not self.answerable:
            d["answerable"] = False
        if self.turns:
            d["turns"] = list(self.turns)
        d["lang"] = self.lang
        if self.topic:
            d["topic"] = list(self.topic)
        return d


def guess_lang(text: str) -> str:
    """"en" for English (code-switched included), "zh" for Chinese, as `ask` decides
    (`qa.language.translate.question_language`); noise without letters counts as "en" here."""
    from qa.language.translate import question_language

    return "zh" if has_han(text) and question_language(text) == "zh" else "en"


def _question_from(obj: Any, where: str) -> Question:
    if not isinstance(obj, dict):
        raise InputError(f"{where}: expected a JSON object, got {type(obj).__name__}.")
    qid, text = obj.get("id"), obj.get("question")
    if not isinstance(qid, str) or not qid.strip():
        raise InputError(f'{where}: "id" must be a non-empty string.')
    if not isinstance(text, str) or not text.strip():
        raise InputError(f'{where}: "question" must be a non-empty string.')
    answers = obj.get("answers", [])
    if not isinstance(answers, list) or not all(isinstance(a, str) and a.strip() for a in answers):
        raise InputError(f'{where}: "answers" must be a list of non-empty strings.')
    answerable = obj.get("answerable", True)
    if not isinstance(answerable, bool):
        raise InputError(f'{where}: "answerable" must be true or false.')
    if answerable and not answers:
        raise InputError(f'{where}: an answerable question needs at least one gold answer '
                         f'(or set "answerable": false).')
    turns = obj.get("turns", [])
    if not isinstance(turns, list) or not all(isinstance(t, str) and t.strip() for t in turns):
        raise InputError(f'{where}: "turns" must be a list of earlier questions (strings).')
    topic = obj.get("topic", [])
    if not isinstance(topic, list) or not all(isinstance(t, str) and t.strip() for t in topic):
        raise InputError(f'{where}: "topic" must be a list of words (strings).')
    lang = obj.get("lang") or guess_lang(text)
    if lang not in ("zh", "en"):
        raise InputError(f'{where}: "lang" must be "zh" or "en", got {lang!r}.')
    return Question(qid, text, tuple(answers), answerable, tuple(turns), lang, tuple(topic))


def load_questions(path: str | os.PathLike) -> list[Question]:
    """Read and validate a JSONL question set.

    Raises:
        InputError: missing file, bad JSON, a malformed entry or a duplicate id (with its line number).
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except FileNotFoundError:
        raise InputError(f"No question file at {path}: check the path.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"Cannot read question file {path}: {exc}. It must be UTF-8 JSONL.") from None
    questions: list[Question] = []
    seen: dict[str, int] = {}
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{path.name} line {n}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{where}: not valid JSON ({exc.msg}); each line must be one object.") from None
        q = _question_from(obj, where)
        if q.id in seen:
            raise InputError(f"{where}: duplicate id {q.id!r} (first on line {seen[q.id]}).")
        seen[q.id] = n
        questions.append(q)
    if not questions:
        raise InputError(f"{path} holds no questions.")
    return questions
