"""Embedding speed: throughput, query latency, load time and memory of one model (`bench embed`)."""

from __future__ import annotations

import json
import os
import resource
import time
from collections.abc import Sequence

import numpy as np

from qa.editions.chunk import chunk_article, embedding_text
from qa.editions.parse import load_edition
from qa.errors import ModelError
from qa.models.embed import (
    DEFAULT_MODEL,
    Embedder,
    _sentence_transformer_class,
    bf16_supported,
)
from qa.paths import sample_editions, sample_questions

__all__ = ["bench_embed", "sample_passages"]


def sample_passages() -> list[str]:
    """The texts the index embeds for the bundled sample edition."""
    texts: list[str] = []
    for edition in sample_editions():
        for article in load_edition(edition.path, date=edition.date, page=edition.page):
            texts += [embedding_text(article, p) for p in chunk_article(article)]
    return texts


def bench_embed(*, model: str | os.PathLike = DEFAULT_MODEL, texts: Sequence[str] | None = None) -> dict:
    """Throughput, latency, load time and memory of one model on the sample edition's passages.

    Returns passages/s in fp32, bf16 (None where the CPU lacks bf16) and int8, single-query latency
    p50/p95 in ms (with the "auto" precision), model load time in s (import time apart), peak
    RSS in MB (the automatic precision's model alone), the lowest fp32-vs-bf16 and fp32-vs-int8 cosines,
    and the same rates per CPU-second of this process (all threads), which stay meaningful when
    other jobs share the cores.
    """
    passages = list(texts) if texts is not None else sample_passages()
    t0 = time.perf_counter()
    _sentence_transformer_class()  # import time reported apart from load time

    import_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    emb = Embedder(model)  # the automatic precision, as an index build loads it
    load_s = time.perf_counter() - t0
    auto = emb.precision
    # CPU-time rates too: on a shared machine wall time mostly measures the other jobs
    rates: dict[str, float | None] = {"fp32": None, "bf16": None, "int8": None}
    cpu_rates: dict[str, float | None] = dict(rates)
    vectors = {}

    def measure(embedder: Embedder, precision: str) -> None:
        embedder.embed_passages(passages[:8])  # warm-up: first calls allocate and pick kernels
        t0, c0 = time.perf_counter(), time.process_time()
        vectors[precision] = embedder.embed_passages(passages)
        rates[precision] = len(passages) / (time.perf_counter() - t0)
        cpu_rates[precision] = len(passages) / max(time.process_time() - c0, 1e-9)

    if auto in rates:
        measure(emb, auto)
    try:
        lines = sample_questions().read_text(encoding="utf-8").splitlines()
        queries = [json.loads(line)["question"] for line in lines if line.strip()]
    except (OSError, ValueError, KeyError):
        queries = []
    queries = queries or [p[:30] for p in passages[:50]]
    emb.embed_queries(queries[:2])
    latencies, cpu_ms = [], []
    for q in queries:
        t0, c0 = time.perf_counter(), time.process_time()
        emb.embed_queries([q])
        latencies.append((time.perf_counter() - t0) * 1000)
        cpu_ms.append((time.process_time() - c0) * 1000)
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # the automatic model alone
    # the other precisions: bf16 is fp32 weights under autocast, int8 other weights (a second model)
    floats = emb if auto in ("fp32", "bf16") else Embedder(model, precision="fp32")
    for precision in ("fp32", "bf16"):
        if precision != auto and (precision == "fp32" or emb.device != "cpu" or bf16_supported()):
            floats.precision = precision
            measure(floats, precision)
    floats.precision = auto if floats is emb else "fp32"
    if auto != "int8" and emb.device == "cpu":
        try:
            measure(Embedder(model, precision="int8"), "int8")
        except ModelError:  # not a transformer
            pass

    def lowest_cosine(other: str) -> float | None:
        return (float((vectors["fp32"] * vectors[other]).sum(axis=1).min())
                if other in vectors and len(passages) else None)

    return {
        "model": emb.model_id, "device": emb.device, "precision_auto": auto,
        "passages": len(passages), "queries": len(queries),
        "passages_per_s_fp32": rates["fp32"], "passages_per_s_bf16": rates.get("bf16"),
        "passages_per_s_int8": rates.get("int8"),
        "query_p50_ms": float(np.percentile(latencies, 50)), "query_p95_ms": float(np.percentile(latencies, 95)),
        "passages_per_cpu_s_fp32": cpu_rates["fp32"], "passages_per_cpu_s_bf16": cpu_rates.get("bf16"),
        "passages_per_cpu_s_int8": cpu_rates.get("int8"),
        "query_cpu_p50_ms": float(np.percentile(cpu_ms, 50)), "threads": _torch_threads(),
        "import_s": import_s, "load_s": load_s,
        "peak_rss_mb": peak_rss_mb,
        "min_cosine_bf16_fp32": lowest_cosine("bf16"), "min_cosine_int8_fp32": lowest_cosine("int8"),
    }


def _torch_threads() -> int:
    import torch

    return int(torch.get_num_threads())
