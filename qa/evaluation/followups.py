"""`edition-qa bench followups`: two-turn conversations, resolved questions and answers scored.

Each line of a follow-up set is a question with its earlier turns, gold answers and `topic`:
words of which a correctly resolved question names at least one ("那有多少人参加？" after a
question about the race's new section must be read as asked of the race: 马拉松 or 义马).
The conversation runs as the chat runs it (`qa.evaluation.evaluate`); the figures are the share
of resolved questions naming their topic, and the answers' exact match and F1.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from qa.errors import InputError
from qa.evaluation.questions import Question, load_questions

__all__ = ["bench_followups", "format_followups", "resolved_on_topic"]


def resolved_on_topic(resolved: str, topic: Sequence[str]) -> bool:
    """Whether a resolved question names one of the topic words (case-insensitive)."""
    text = resolved.lower()
    return any(t.lower() in text for t in topic)


def _rules_only_ask() -> Any:
    """`ask` with follow-ups resolved by the rules alone (the comparison run)."""
    from qa.answers import ask as ask_module
    from qa.answers.followup import resolve_question

    def run(question: str, **options: Any) -> Any:
        saved = ask_module.candidate_questions
        ask_module.candidate_questions = lambda q, history: [resolve_question(q, history)]
        try:
            return ask_module.ask(question, **options)
        finally:
            ask_module.candidate_questions = saved

    return run


def bench_followups(path: str | os.PathLike, *, squad: str | os.PathLike | None = None,
                    paragraphs: int = 100, index: Any = None, rules_only: bool = False,
                    progress: bool = True) -> dict[str, Any]:
    """Score a follow-up set.

    Args:
        path: a JSONL question set whose lines have `turns` and `topic`.
        squad: a SQuAD-format file (e.g. CMRC 2018 dev): its first `paragraphs` paragraphs are
            indexed in a temporary index and asked; None asks `index` (default: the sample's).
        rules_only: resolve follow-ups with the rules alone (`resolve_question`), as a baseline.
    Returns:
        conversations, resolved_on_topic, exact, f1, answered (share not refused), per question.
    """
    from qa.evaluation.evaluate import evaluate

    questions: list[Question] = load_questions(path)
    bad = [q.id for q in questions if not q.turns or not q.topic]
    if bad:
        raise InputError(f"{path}: follow-ups need 'turns' and 'topic' ({', '.join(bad[:3])} lack them)")
    own = None
    if squad is not None:
        from qa.evaluation.benchmarks import squad_paragraphs
        from qa.store.index import DEFAULT_MODEL, Index

        if paragraphs < 1:
            raise InputError("--paragraphs must be at least 1.")
        articles = [a for a, _ in squad_paragraphs(squad)[:paragraphs]]
        own = index = Index.from_articles(articles, model=DEFAULT_MODEL, progress=progress)
    try:
        report = evaluate(questions, index=index, progress=progress,
                          ask_fn=_rules_only_ask() if rules_only else None)
    finally:
        if own is not None:
            own.close()
    by_id = {q.id: q for q in questions}
    rows = [{"id": r.id, "question": r.question, "resolved": r.resolved_question,
             "on_topic": resolved_on_topic(r.resolved_question, by_id[r.id].topic),
             "short_answer": r.short_answer, "exact": r.short_exact, "f1": round(r.short_f1, 4),
             "no_answer": r.no_answer} for r in report.questions]
    n = len(rows)
    return {
        "conversations": n,
        "resolution": "rules only" if rules_only else "rules, then candidate rewrites",
        "resolved_on_topic": round(sum(r["on_topic"] for r in rows) / n, 4),
        "exact": round(sum(r["exact"] for r in rows) / n, 4),
        "f1": round(sum(r["f1"] for r in rows) / n, 4),
        "answered": round(sum(not r["no_answer"] for r in rows) / n, 4),
        "questions": rows,
    }


def format_followups(report: dict[str, Any]) -> str:
    """The report as `edition-qa bench followups` prints it: figures, then each miss."""
    lines = [f"{report['conversations']} two-turn conversations ({report['resolution']})"]
    lines += [f"{key:<20} {report[key]:.3f}" for key in ("resolved_on_topic", "exact", "f1", "answered")]
    lines += [f"  {row['id']}: {row['question']} -> {row['resolved']} | {row['short_answer'] or '(no answer)'}"
              for row in report["questions"] if not row["on_topic"] or row["exact"] < 1]
    return "\n".join(lines)
