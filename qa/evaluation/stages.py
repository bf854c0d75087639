"""`edition-qa bench speed`: where the time of one `ask` goes, on this CPU.

Asks the bundled questions (those without earlier turns) against the default index, warm, with
a stopwatch around each stage `ask` goes through: the question embedded, the rest of retrieval
(vector and lexical search, fusion, re-ranking), an English question put in Chinese terms, the
reader's forward passes, the rest of reading (tokens, windows, span search), and what is left
(the answer put together: ranking, calibration, citations). Stages are timed by wrapping the
shared embedder's and reader's methods and the functions `ask` looks up when it runs, so the
code measured is the code shipped; the wrappers are removed afterwards.
"""

from __future__ import annotations

import contextlib
import json
import time
import types
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

__all__ = ["STAGES", "bench_speed", "cpu_name"]

STAGES = ("query embedding", "search", "translation", "reader forward", "reading, other", "answer, other")


def cpu_name() -> str:
    """The CPU's model name (/proc/cpuinfo), or what the platform says."""
    with contextlib.suppress(OSError):
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    import platform

    return platform.processor() or platform.machine()


@contextlib.contextmanager
def _timed(owner: Any, name: str, spent: dict[str, float], key: str) -> Iterator[None]:
    """`owner.name` adds its wall time to `spent[key]` while the block runs."""
    plain: Callable[..., Any] = getattr(owner, name)

    def timed(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return plain(*args, **kwargs)
        finally:
            spent[key] = spent.get(key, 0.0) + time.perf_counter() - t0

    setattr(owner, name, timed)
    try:
        yield
    finally:
        if isinstance(owner, types.ModuleType):  # a module: put its function back
            setattr(owner, name, plain)
        else:  # an instance: drop the shadowing attribute, the method shows again
            delattr(owner, name)


def bench_speed(*, index: Any = None, repeat: int = 1, limit: int | None = None) -> dict[str, Any]:
    """Per-stage time of `ask` over the bundled questions without earlier turns (the first `limit`).

    Returns the CPU, torch's instruction set, the embedder's and reader's precisions, the number
    of questions and, per language and for all: the mean and p50 of the whole ask and the mean of
    each stage in ms, and the share of questions the reader read from their first passage alone.
    """
    import torch

    import qa.answers.ask as ask_module
    import qa.search.retrieve as retrieve_module
    from qa.answers.ask import ask, warm
    from qa.models.reader import get_reader
    from qa.paths import sample_questions

    if index is None:
        from qa.store.index import default_index

        index = default_index()
    warm(index)
    rows = [json.loads(line) for line in sample_questions().read_text(encoding="utf-8").splitlines() if line.strip()]
    rows = [r for r in rows if not r.get("turns")][:limit]
    reader, embedder = get_reader(), index.embedder
    for r in rows[:3]:  # first calls allocate and pick kernels
        ask(r["question"], index=index)
    records = []
    for _ in range(max(repeat, 1)):
        for r in rows:
            spent: dict[str, float] = {}
            alone = []
            plain_read = reader.read

            def read(*args: Any, **kwargs: Any) -> Any:
                readings = plain_read(*args, **kwargs)
                alone.append(not all(x.read for x in readings))
                return readings

            with contextlib.ExitStack() as stack:
                stack.enter_context(_timed(embedder, "embed_queries", spent, "query embedding"))
                stack.enter_context(_timed(retrieve_module, "retrieve", spent, "retrieval"))
                stack.enter_context(_timed(ask_module, "reading_question", spent, "translation"))
                stack.enter_context(_timed(reader, "logits", spent, "reader forward"))
                reader.read = read  # the timed wrapper below shadows it; leaving, both go
                stack.enter_context(_timed(reader, "read", spent, "reading"))
                retrieve_module._query_cache.clear()  # each question embedded, as when first asked
                t0 = time.perf_counter()
                ask(r["question"], index=index)
                total = time.perf_counter() - t0
            stages = {
                "query embedding": spent.get("query embedding", 0.0),
                "search": spent.get("retrieval", 0.0) - spent.get("query embedding", 0.0),
                "translation": spent.get("translation", 0.0),
                "reader forward": spent.get("reader forward", 0.0),
                "reading, other": spent.get("reading", 0.0) - spent.get("reader forward", 0.0),
            }
            stages["answer, other"] = total - sum(stages.values())
            records.append({"lang": r.get("lang", "zh"), "total": total, "stages": stages,
                            "alone": any(alone)})

    def summary(part: list[dict[str, Any]]) -> dict[str, Any]:
        totals = [1000 * p["total"] for p in part]
        return {"questions": len(part), "mean_ms": float(np.mean(totals)), "p50_ms": float(np.percentile(totals, 50)),
                "stages_ms": {s: float(np.mean([1000 * p["stages"][s] for p in part])) for s in STAGES},
                "first_passage_alone": sum(p["alone"] for p in part) / len(part)}

    by_lang = {lang: summary([p for p in records if p["lang"] == lang])
               for lang in sorted({p["lang"] for p in records})}
    return {"cpu": cpu_name(), "isa": str(torch.backends.cpu.get_cpu_capability()),
            "threads": int(torch.get_num_threads()), "embedder": embedder.precision, "reader": reader.precision,
            "all": summary(records), **by_lang}
