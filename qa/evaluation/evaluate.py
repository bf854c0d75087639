"""Evaluation runner: `evaluate` a question set over an index, and its reports.

The metrics themselves are pure functions in `qa.evaluation.metrics`; this module asks the questions,
records what came back for each one, and formats the result.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from qa.errors import InputError, QAError
from qa.evaluation.metrics import (
    METRIC_NAMES,
    Outcome,
    answer_f1,
    compute_metrics,
    exact_match,
    first_rank,
)
from qa.evaluation.questions import Question
from qa.types import Answer, Article

AskFn = Callable[..., Answer]

# ---------------------------------------------------------------- per-question results


def article_text(article: Article) -> str:
    """The printed text of an article that gold answers are looked for in."""
    return "\n".join([article.title, article.kicker, *article.subheads, article.body])


@dataclass(frozen=True)
class QuestionResult:
    """What one question got: gold ranks (1-based, None = missed), the answer, flags."""

    id: str
    question: str
    resolved_question: str
    lang: str
    answerable: bool
    answers: tuple[str, ...]
    turns: tuple[str, ...] = ()
    article_rank: int | None = None
    passage_rank: int | None = None
    extract_rank: int | None = None
    extract: str = ""
    short_answer: str = ""
    short_exact: float = 0.0
    short_f1: float = 0.0
    no_answer: bool = False
    confidence: float = 0.0
    latency_ms: float = 0.0
    returned: tuple[str, ...] = ()  # titles of the retrieved articles, best first
    error: str = ""

    @property
    def ok(self) -> bool:
        """Answerable: the first extract holds a gold answer and no_answer is false.
        Unanswerable: no_answer is true."""
        if self.error:
            return False
        if self.answerable:
            return self.extract_rank == 1 and not self.no_answer
        return self.no_answer

    def flags(self) -> dict[str, bool]:
        return {
            "article_hit@1": self.article_rank == 1,
            "passage_hit@1": self.passage_rank == 1,
            "extract_hit@1": self.extract_rank == 1,
            "short_answer_exact": self.short_exact == 1.0,
            "no_answer_correct": self.no_answer != self.answerable,
            "ok": self.ok,
        }

    def outcome(self) -> Outcome:
        return Outcome(self.answerable, self.article_rank, self.passage_rank, self.extract_rank,
                       self.short_exact, self.short_f1, self.no_answer, self.latency_ms)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "question": self.question,
            "resolved_question": self.resolved_question,
            "lang": self.lang,
            "answerable": self.answerable,
            "answers": list(self.answers),
            "turns": list(self.turns),
            "ranks": {"article": self.article_rank, "passage": self.passage_rank,
                      "extract": self.extract_rank},
            "extract": self.extract,
            "short_answer": self.short_answer,
            "short_answer_f1": round(self.short_f1, 4),
            "no_answer": self.no_answer,
            "confidence": self.confidence,
            "latency_ms": round(self.latency_ms, 2),
            "returned": list(self.returned),
            "error": self.error,
            "ok": self.flags(),
        }


def score_answer(q: Question, answer: Answer, latency_ms: float) -> QuestionResult:
    """Compare one Answer with the question's gold answers."""
    hits = list(answer.hits)
    golds = list(q.answers)
    extracts = [c.extract for c in answer.citations]
    ranked = golds and q.answerable
    titles: list[str] = []
    for h in hits:
        if h.article.title not in titles:
            titles.append(h.article.title)
    return QuestionResult(
        id=q.id,
        question=q.question,
        resolved_question=answer.resolved_question,
        lang=q.lang,
        answerable=q.answerable,
        answers=q.answers,
        turns=q.turns,
        article_rank=first_rank([article_text(h.article) for h in hits], golds) if ranked else None,
        # A headline-only brief has one empty passage that stands for its headline.
        passage_rank=first_rank([h.passage.text or h.article.title for h in hits], golds) if ranked else None,
        extract_rank=first_rank(extracts, golds) if ranked else None,
        extract=extracts[0] if extracts else "",
        short_answer=answer.short_answer,
        short_exact=exact_match(answer.short_answer, golds) if ranked else 0.0,
        short_f1=answer_f1(answer.short_answer, golds) if ranked else 0.0,
        no_answer=answer.no_answer,
        confidence=answer.confidence,
        latency_ms=latency_ms,
        returned=tuple(titles),
    )


# ---------------------------------------------------------------- report


@dataclass
class Report:
    """Metrics (name -> float; NaN when a metric's group is empty) and per-question results.

    `by_lang` holds the same metrics per question language ("zh", "en") when the set mixes them.
    """

    metrics: dict[str, float]
    questions: list[QuestionResult] = field(default_factory=list)
    by_lang: dict[str, dict[str, float]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        # JSON has no NaN: an undefined metric becomes null.
        def clean(metrics: dict[str, float]) -> dict[str, Any]:
            return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in metrics.items()}

        out: dict[str, Any] = {"metrics": clean(self.metrics)}
        if self.by_lang:
            out["by_lang"] = {lang: clean(m) for lang, m in self.by_lang.items()}
        out["questions"] = [r.to_dict() for r in self.questions]
        return out


def _badness(r: QuestionResult) -> tuple:
    """Sort key: errors, then answerable questions missed earliest in the pipeline, then
    confidently answered unanswerable ones, then weak short answers."""
    if r.error:
        return (0,)
    if r.answerable:
        if r.article_rank is None:
            return (1, -r.confidence)
        if r.passage_rank is None:
            return (2, -r.confidence)
        if r.extract_rank != 1:
            return (3, r.extract_rank or 99)
        if r.no_answer:
            return (4, r.confidence)
        return (6, r.short_f1)
    return (5, -r.confidence) if not r.no_answer else (7,)


def _fmt(name: str, value: float) -> str:
    if math.isnan(value):
        return "n/a"
    if name not in METRIC_NAMES and float(value).is_integer():
        return str(int(value))  # counts: articles, passages, questions
    return f"{value:.1f}" if name.startswith(("latency", "build", "warm")) else f"{value:.3f}"


def _clip(text: str, n: int = 100) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def _describe(r: QuestionResult) -> list[str]:
    rank = lambda v: "-" if v is None else str(v)  # noqa: E731
    status = "ERROR" if r.error else ("ok" if r.ok else "MISS")
    lines = [f"{status:<5} {r.id}  {r.question}"]
    if r.turns:
        lines.append(f"      turns:    {' / '.join(r.turns)}")
    if r.resolved_question != r.question:
        lines.append(f"      resolved: {r.resolved_question}")
    gold = " | ".join(r.answers) if r.answerable else "(unanswerable)"
    lines.append(f"      gold:     {gold}")
    if r.error:
        lines.append(f"      error:    {r.error}")
        return lines
    ranks = (f"article {rank(r.article_rank)}, passage {rank(r.passage_rank)}, "
             f"extract {rank(r.extract_rank)}; " if r.answerable else "")
    lines.append(f"      ranks:    {ranks}no_answer={'yes' if r.no_answer else 'no'}, "
                 f"confidence {r.confidence:.2f}")
    lines.append(f"      short:    {r.short_answer or '(none)'}")
    lines.append(f"      extract:  {_clip(r.extract) or '(none)'}")
    if r.returned:
        lines.append(f"      articles: {_clip(' / '.join(r.returned[:3]))}")
    return lines


def format_report(report: Report, *, worst: int = 10) -> str:
    """A metric table, then up to `worst` questions that went wrong, worst first."""
    qs = report.questions
    n_ans = sum(1 for r in qs if r.answerable)
    out = [f"{len(qs)} questions ({n_ans} answerable, {len(qs) - n_ans} unanswerable)", ""]
    width = max((len(k) for k in report.metrics), default=6)
    langs = list(report.by_lang)
    counts = {lang: sum(1 for r in qs if r.lang == lang) for lang in langs}
    out.append(f"{'metric':<{width}}  {'all':>8}" + "".join(f"  {f'{lang} ({counts[lang]})':>8}" for lang in langs))
    for name, value in report.metrics.items():
        row = f"{name:<{width}}  {_fmt(name, value):>8}"
        row += "".join(f"  {_fmt(name, report.by_lang[lang].get(name, math.nan)):>8}" for lang in langs)
        out.append(row.rstrip())
    bad = sorted((r for r in qs if _badness(r)[0] < 6 or (r.answerable and r.short_f1 < 1.0)), key=_badness)
    if worst > 0 and bad:
        out += ["", f"worst questions ({min(worst, len(bad))} of {len(bad)} imperfect):"]
        for r in bad[:worst]:
            out.extend(_describe(r))
    return "\n".join(out)


# ---------------------------------------------------------------- runners


def _default_ask() -> AskFn:
    from qa.answers.ask import ask

    return ask


def warm_index(index: Any) -> None:
    """Load the reader and read once up front, as the app does at start, so that latency
    measures a warm `ask` rather than model loading."""
    from qa.answers.ask import warm
    from qa.store.index import default_index

    warm(index if index is not None else default_index())


def conversation(turns: Sequence[str], ask: AskFn, *, index: Any, k: int) -> list[Any]:
    """The history a follow-up is asked with: each earlier turn asked in order, as the chat does,
    so the follow-up sees the Answers (and the articles they cited), not just the questions.
    A turn that cannot be answered stays in the history as its question."""
    history: list[Any] = []
    for turn in turns:
        try:
            history.append(ask(turn, index=index, history=list(history) or None, k=k))
        except QAError:
            history.append(turn)
    return history


def evaluate(questions: Sequence[Question], *, index: Any = None, k: int = 5, progress: bool = True,
             warm: bool = True, ask_fn: AskFn | None = None) -> Report:
    """Ask every question (a follow-up after its turns, asked as a conversation) and score the answers.

    Args:
        questions: from `load_questions` (or built directly).
        index: a `qa.store.index.Index`; None lets `ask` use the default index.
        k: passages retrieved per question.
        progress: show a progress bar.
        warm: load the reader before timing (as the app does at start).
        ask_fn: stands in for `qa.answers.ask.ask` (tests).
    Returns:
        A Report with `METRIC_NAMES` metrics and one result per question, in input order.
    """
    if not questions:
        raise InputError("No questions to evaluate.")
    ask = ask_fn or _default_ask()
    if ask_fn is None and warm:
        warm_index(index)
    # One untimed question first, so that model loading does not count as latency.
    try:
        ask(questions[0].question, index=index, history=None, k=k)
    except QAError:
        pass
    results: list[QuestionResult] = []
    for q in progress_bar(questions, progress, "eval"):
        history = conversation(q.turns, ask, index=index, k=k)
        t0 = time.perf_counter()
        try:
            answer = ask(q.question, index=index, history=history or None, k=k)
        except QAError as exc:
            ms = (time.perf_counter() - t0) * 1000
            results.append(QuestionResult(q.id, q.question, q.question, q.lang, q.answerable,
                                          q.answers, q.turns, latency_ms=ms,
                                          error=f"{type(exc).__name__}: {exc}"))
            continue
        ms = (time.perf_counter() - t0) * 1000
        results.append(score_answer(q, answer, ms))
    metrics = compute_metrics([r.outcome() for r in results])
    by_lang: dict[str, dict[str, float]] = {}
    langs = sorted({r.lang for r in results}, key=lambda lang: (lang != "zh", lang))
    if len(langs) > 1:
        for lang in langs:
            part = compute_metrics([r.outcome() for r in results if r.lang == lang])
            by_lang[lang] = {name: part[name] for name in METRIC_NAMES}
    return Report({name: metrics[name] for name in METRIC_NAMES}, results, by_lang)


def progress_bar(items: Sequence[Any], enabled: bool, desc: str) -> Any:
    if not enabled:
        return items
    from tqdm import tqdm

    return tqdm(items, desc=desc, unit="q")


__all__ = ["QuestionResult", "Report", "evaluate", "format_report",
           "progress_bar", "score_answer", "warm_index"]
