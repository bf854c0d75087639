"""The SQuAD format (CMRC 2018, DRCD): paragraphs with their questions and answers, read and checked.

Training (`qa.models.examples`) and the benchmarks (`qa.evaluation.benchmarks`) read the same
files through `read_squad`; each takes what it needs from the result.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from qa.errors import InputError

__all__ = ["SquadParagraph", "SquadQuestion", "read_squad"]


@dataclass(frozen=True)
class SquadQuestion:
    """One question; `answers` are (text as given, start in the context), -1 where the given
    start does not point at the text and the text is not in the context either."""

    id: str
    question: str
    answers: tuple[tuple[str, int], ...]
    answerable: bool


@dataclass(frozen=True)
class SquadParagraph:
    doc: int  # position of its document in the file
    n: int  # position in its document
    title: str
    context: str
    questions: tuple[SquadQuestion, ...]


def _start(context: str, text: str, given: object) -> int:
    """Where `text` starts in `context`: the given answer_start when it points at the text
    (21 of CMRC 2018 train's do not), else the first occurrence, else -1."""
    start = given if isinstance(given, int) else -1
    if start >= 0 and context[start:start + len(text)] == text:
        return start
    return context.find(text)


def read_squad(path: str | os.PathLike) -> list[SquadParagraph]:
    """Every paragraph of a SQuAD-format JSON file, with unique question ids.

    Raises:
        InputError: a missing file, not JSON, not SQuAD-shaped, or no questions at all.
    """
    path = Path(path)
    try:
        docs = json.loads(path.read_text(encoding="utf-8-sig"))["data"]
    except FileNotFoundError:
        raise InputError(f"No SQuAD file at {path}: check the path.") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise InputError(f"{path} is not a SQuAD-format JSON file ({type(exc).__name__}: {exc}); "
                         'expected {"data": [{"title", "paragraphs": [{"context", "qas"}]}]}.') from None
    out: list[SquadParagraph] = []
    seen: set[str] = set()
    count = 0
    try:
        for d, doc in enumerate(docs):
            title = str(doc.get("title") or "").strip()
            for p, para in enumerate(doc["paragraphs"]):
                context = str(para["context"])
                questions = []
                for qa in para.get("qas", []):
                    answers = tuple((a["text"], _start(context, a["text"], a.get("answer_start")))
                                    for a in qa.get("answers", []) if a["text"].strip())
                    qid = str(qa.get("id") or f"{d}-{p}-{count}")
                    if qid in seen:
                        qid = f"{qid}-{count}"
                    seen.add(qid)
                    count += 1
                    answerable = not qa.get("is_impossible", False) and bool(answers)
                    questions.append(SquadQuestion(qid, str(qa["question"]), answers, answerable))
                out.append(SquadParagraph(d, p, title, context, tuple(questions)))
    except (KeyError, TypeError, AttributeError) as exc:
        raise InputError(f"{path}: malformed SQuAD entry ({type(exc).__name__}: {exc}).") from None
    if not count:
        raise InputError(f"{path} holds no questions.")
    return out
