"""`edition-qa bench scale`: a synthetic archive of N passages built from real text, measured.

The text is real: sentences of the bundled sample edition and of the CMRC 2018 train/dev
contexts, recombined into dated articles and pages (editions going back day by day, several
pages each), chunked by the project's chunker and stored in the project's SQLite store.
The vectors are NOT those of the passages: embedding a million passages on 2 cores takes a
day, so every sentence of a pool is embedded for real (the project's embedder, "passage:"
prompt) and a synthetic passage's vector is the normalized mean of the vectors of the
sentences it is made of. Queries (CMRC dev questions) are embedded for real.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from qa.editions.chunk import chunk_article
from qa.errors import InputError
from qa.evaluation.scale_terms import joined_terms, main_terms
from qa.text import split_sentences
from qa.types import Article, stable_hash

__all__ = ["COMMON_QUESTION", "SYNTHETIC_NOTE", "bench_scale", "build_archive", "default_sources", "format_scale",
           "sentence_pool", "serve"]

SYNTHETIC_NOTE = ("vectors are synthetic: each passage's vector is the normalized mean of the real "
                  "e5 vectors of the sentences it is made of (a pool of real sentences embedded "
                  "for real); query vectors are real")
_BENCH = Path(__file__).resolve().parents[2].parent / "shared" / "bench"
_ENDS = set("。！？；…!?;")
_CLOSE = set("”’」』）)】》")


def default_sources() -> list[Path]:
    """CMRC 2018 train and dev next to the checkout (../shared/bench), as found."""
    return [p for p in (_BENCH / "cmrc2018_train.json", _BENCH / "cmrc2018_dev.json") if p.is_file()]


def _contexts(sources: Sequence[Path]) -> list[tuple[str, str]]:
    """(title, text) of every CMRC context and every sample edition article."""
    from qa.editions.parse import load_edition
    from qa.paths import sample_editions
    from qa.squad import read_squad

    out = [(a.title, a.body) for e in sample_editions()
           for a in load_edition(e.path, date=e.date, page=e.page) if a.body]
    for path in sources:
        if not Path(path).is_file():
            raise InputError(f"{path} not found: give the CMRC 2018 train/dev files with --source "
                             "(SQuAD-format JSON, see ../shared/bench/README.md).")
        out += [(p.title, p.context) for p in read_squad(path)]
    return out


def _sentences(text: str) -> list[str]:
    """Whole sentences that end with a terminator (so the chunker finds them again), 8-200 chars."""
    out = []
    for a, b in split_sentences(text):
        s = text[a:b]
        tail = s.rstrip("".join(_CLOSE))
        if 8 <= len(s) <= 200 and tail and tail[-1] in _ENDS and "\n" not in s:
            out.append(s)
    return out


def sentence_pool(sources: Sequence[Path], work: Path, *, size: int, embedder: Any,
                  progress: bool = True) -> dict[str, Any]:
    """Up to `size` real sentences grouped by context, their terms and real vectors (cached in `work`).

    Returns {"topics": [(title, first, last)], "sentences": [...], "terms": [...], "vectors": array}.
    """
    from qa.store.lexical import segment

    contexts = _contexts(sources)
    key = hashlib.sha256(json.dumps([str(Path(p).resolve()) for p in sources] + [size, embedder.model_id])
                         .encode()).hexdigest()[:12]
    cache = work / f"pool-{key}"
    if (cache / "vectors.npy").is_file():
        meta = json.loads((cache / "pool.json").read_text(encoding="utf-8"))
        return {**meta, "vectors": np.load(cache / "vectors.npy")}
    rng = np.random.default_rng(7)
    order = rng.permutation(len(contexts))
    topics, sentences = [], []
    for i in order:
        title, text = contexts[int(i)]
        sents = _sentences(text)
        if len(sents) < 2:
            continue
        topics.append((title, len(sentences), len(sentences) + len(sents)))
        sentences += sents
        if len(sentences) >= size:
            break
    t0 = time.perf_counter()
    vectors = np.asarray(embedder.embed_passages(sentences, progress=progress), dtype=np.float32)
    embed_s = time.perf_counter() - t0
    terms = [segment(s) for s in sentences]
    meta = {"topics": topics, "sentences": sentences, "terms": terms, "embed_s": round(embed_s, 1)}
    cache.mkdir(parents=True, exist_ok=True)
    (cache / "pool.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
    np.save(cache / "vectors.npy", vectors)
    return {**meta, "vectors": vectors}


def _pages(pool: dict[str, Any], n: int, *, pages_per_day: int, per_page: int, first_date: str,
           seed: int) -> Iterator[tuple[str, int, list[Article], list[Any], dict[int, str], np.ndarray]]:
    """Edition pages of recombined pool sentences, newest date first, until `n` passages.

    Yields (date, page, articles, passages, terms by passage id, passage vectors).
    """
    import datetime as dt

    from qa.store.lexical import segment

    rng = np.random.default_rng(seed)
    sents, vecs, topics = pool["sentences"], pool["vectors"], pool["topics"]
    mains = [main_terms(t, x) for t, x in zip(sents, pool["terms"])]
    day, made, page = dt.date.fromisoformat(first_date), 0, 0
    while made < n:
        page = page % pages_per_day + 1
        date = day.isoformat()
        arts, passages, pterms, pvecs = [], [], {}, []
        while len(passages) < per_page and made + len(passages) < n:
            title, first, last = topics[int(rng.integers(len(topics)))]
            length = int(rng.integers(2, 11))
            a = int(rng.integers(first, max(first + 1, last - length + 1)))
            chosen = list(range(a, min(last, a + length)))
            if rng.random() < 0.3:  # a paragraph from another story, as pages mix items
                _, f2, l2 = topics[int(rng.integers(len(topics)))]
                chosen += list(range(f2, min(l2, f2 + 3)))
            body = "".join(sents[i] for i in chosen)
            starts = np.cumsum([0] + [len(sents[i]) for i in chosen])
            n_art = len(arts) + 1
            art = Article(id=stable_hash(date, page, n_art, stable_hash(title, body), length=12), date=date,
                          page=page, headline=title, body=body)
            arts.append(art)
            for p in chunk_article(art):
                lo, hi = np.searchsorted(starts, p.start, "right") - 1, np.searchsorted(starts, p.end, "left")
                inside = [chosen[j] for j in range(lo, hi)]
                whole = starts[lo] == p.start and starts[hi] == p.end
                pterms[p.id] = joined_terms(p.text, [mains[i] for i in inside]) if whole else segment(p.text)
                v = vecs[inside].mean(axis=0)
                pvecs.append(v / np.linalg.norm(v))
                passages.append(p)
        made += len(passages)
        yield date, page, arts, passages, pterms, np.asarray(pvecs, dtype=np.float32)
        if page == pages_per_day:
            day -= dt.timedelta(days=1)


def _questions(path: Path, count: int) -> list[str]:
    from qa.squad import read_squad

    return [q.question for p in read_squad(path) for q in p.questions if q.answerable][:count]


class _TopK:
    """Exact top-k inner products of fixed queries over vectors seen in batches."""

    def __init__(self, queries: np.ndarray, k: int) -> None:
        self.q, self.k = queries, k
        self.ids = np.full((len(queries), 0), -1, dtype=np.int64)
        self.scores = np.zeros((len(queries), 0), dtype=np.float32)

    def update(self, ids: np.ndarray, x: np.ndarray) -> None:
        scores = np.concatenate([self.scores, self.q @ x.T], axis=1)
        allids = np.concatenate([self.ids, np.broadcast_to(ids, (len(self.q), len(ids)))], axis=1)
        top = np.argsort(-scores, axis=1, kind="stable")[:, :self.k]
        self.scores = np.take_along_axis(scores, top, axis=1)
        self.ids = np.take_along_axis(allids, top, axis=1)


def build_archive(n: int, work: Path, *, sources: Sequence[Path], pool_size: int = 8000,
                  progress: bool = True, questions: int = 200) -> dict[str, Any]:
    """Build the synthetic archive of `n` passages in `work`/index-N; returns the build figures."""
    from qa.models.embed import get_embedder
    from qa.store.index import Index

    work.mkdir(parents=True, exist_ok=True)
    embedder = get_embedder("multilingual-e5-small")
    pool = sentence_pool(sources, work, size=pool_size, embedder=embedder, progress=progress)
    dev = [p for p in sources if "dev" in Path(p).name] or list(sources)
    qs = _questions(dev[-1], questions)
    qvecs = np.asarray(embedder.embed_queries(qs), dtype=np.float32)
    truth = _TopK(qvecs, 50)
    t0 = time.perf_counter()
    index = Index(model=embedder)
    ids: list[int] = []
    vecs: list[np.ndarray] = []
    done, last_note = 0, 0.0
    pages = _pages(pool, n, pages_per_day=8, per_page=35, first_date="2020-11-13", seed=n)
    while chunk := list(itertools.islice(pages, 100)):
        with index.store.transaction():  # 100 pages a commit (bulk loading: one FTS5 segment each)
            for date, page, arts, passages, terms, _ in chunk:
                index.store.add_edition(date, page, arts, passages, source="synthetic", terms=terms)
        for date, _, _, passages, _, pv in chunk:
            ids += [p.id for p in passages]
            vecs.append(pv)
            done += len(passages)
            if len(ids) >= 20000 or done >= n:
                x = np.concatenate(vecs)
                index.vectors.add(ids, x)
                truth.update(np.asarray(ids, dtype=np.int64), x)
                ids, vecs = [], []
        if progress and time.perf_counter() - last_note > 30:
            last_note = time.perf_counter()
            print(f"  {done:,}/{n:,} passages, {date}, {last_note - t0:.0f} s", flush=True)
    folder = work / f"index-{n}"
    t1 = time.perf_counter()
    index.save(folder)
    save_s = time.perf_counter() - t1
    build_s = time.perf_counter() - t0
    counts = index.manifest["counts"]
    kind = index.vectors.describe()
    index.close()
    np.save(work / f"truth-{n}.npy", truth.ids)
    np.save(work / f"truth-scores-{n}.npy", truth.scores)
    np.save(work / f"queries-{n}.npy", qvecs)
    (work / f"questions-{n}.json").write_text(json.dumps(qs, ensure_ascii=False), encoding="utf-8")
    return {"passages": counts["passages"], "articles": counts["articles"], "editions": counts["editions"],
            "build_s": round(build_s, 1), "save_s": round(save_s, 1), **kind,
            "pool_sentences": len(pool["sentences"]), "pool_embed_s": pool.get("embed_s"),
            "build_peak_rss_mb": _peak_rss_mb(), "folder": str(folder)}


def _peak_rss_mb() -> int:
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def _rss_mb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) // 1024
    return _peak_rss_mb()


def _ms(times: Sequence[float]) -> dict[str, float]:
    a = np.asarray(times) * 1000
    return {"p50": round(float(np.percentile(a, 50)), 1), "p95": round(float(np.percentile(a, 95)), 1)}


COMMON_QUESTION = "义乌市的发展情况如何？"


def serve(work: Path, n: int, *, asks: int = 30) -> dict[str, Any]:
    """Load the archive as the app would and measure retrieve, ask, recall@10, add, RSS and disk."""
    from qa.answers.ask import ask, warm
    from qa.editions.parse import load_edition
    from qa.paths import sample_editions
    from qa.search.retrieve import retrieve
    from qa.store.index import Index

    folder = work / f"index-{n}"
    vectors_file = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))["vectors_file"]
    disk = {name: round(os.path.getsize(folder / name) / 2**20, 1) if (folder / name).exists() else 0.0
            for name in ("store.sqlite", "store.sqlite-wal", vectors_file)}
    disk["vectors.faiss"] = disk.pop(vectors_file)
    t0 = time.perf_counter()
    index = Index.load(folder)
    load_s = time.perf_counter() - t0
    rss_loaded = _rss_mb()
    qs = json.loads((work / f"questions-{n}.json").read_text(encoding="utf-8"))
    qvecs, truth = np.load(work / f"queries-{n}.npy"), np.load(work / f"truth-{n}.npy")
    tscores = np.load(work / f"truth-scores-{n}.npy")
    warm(index)
    for q in ("热身问题一？", "热身问题二是什么？", COMMON_QUESTION + "呢"):
        retrieve(q, index=index)
    recall, dense_t = [], []
    for qv, want, wscores in zip(qvecs, truth, tscores):
        t = time.perf_counter()
        got = index.vectors.search(qv, 10)
        dense_t.append(time.perf_counter() - t)
        # Passages made of the same sentences have equal vectors: any id tied with the
        # exact 10th score counts as found.
        right = set(want[wscores >= wscores[9] - 1e-6].tolist())
        recall.append(len({i for i, _ in got} & right) / 10)
    lex_t, ret_t = [], []
    for q in qs:
        t = time.perf_counter()
        index.store.search(q, limit=50)
        lex_t.append(time.perf_counter() - t)
        t = time.perf_counter()
        retrieve(q, index=index)
        ret_t.append(time.perf_counter() - t)
    common_t = []
    for _ in range(5):
        t = time.perf_counter()
        index.store.search(COMMON_QUESTION, limit=50)
        common_t.append(time.perf_counter() - t)
    ask_t = []
    for q in qs[:asks]:
        t = time.perf_counter()
        ask(q, index=index)
        ask_t.append(time.perf_counter() - t)
    rss_serving = _rss_mb()
    arts = [dataclasses.replace(a, date="2099-01-01", id=stable_hash("2099-01-01", a.id, length=12))
            for e in sample_editions() for a in load_edition(e.path, date=e.date, page=e.page)]
    t0 = time.perf_counter()
    added = index.add_articles(arts, source="bench")
    add_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    index.save(folder)
    add_save_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    served = Index.load(folder)  # what a served index does when it sees the new version
    reload_s = time.perf_counter() - t0
    rss_two = _rss_mb()  # both versions held, as during a swap
    found = retrieve("义乌绿色动力小镇的规划面积是多少？", index=served, date="2099-01-01")
    served.close()
    index.remove_edition("2099-01-01")
    index.save(folder)
    return {"load_s": round(load_s, 1), "rss_loaded_mb": rss_loaded, "rss_serving_mb": rss_serving,
            "peak_rss_mb": _peak_rss_mb(), "disk_mb": disk, "disk_total_mb": round(sum(disk.values()), 1),
            "recall_at_10": round(float(np.mean(recall)), 4), "dense_ms": _ms(dense_t),
            "lexical_ms": _ms(lex_t), "common_terms_lexical_ms": _ms(common_t), "retrieve_ms": _ms(ret_t),
            "ask_ms": _ms(ask_t), "questions": len(qs), "asks": min(asks, len(qs)),
            "add_passages": added, "add_s": round(add_s, 2), "add_save_s": round(add_save_s, 1),
            "added_answerable": bool(found), "reload_s": round(reload_s, 1), "rss_two_versions_mb": rss_two}


def bench_scale(n: int, *, work: Path, sources: Sequence[Path] | None = None, pool_size: int = 8000,
                progress: bool = True) -> dict[str, Any]:
    """Build the archive in this process, then measure serving in a fresh one (honest RSS)."""
    sources = list(sources) if sources else default_sources()
    if not sources:
        raise InputError("No CMRC 2018 files found in ../shared/bench: give them with --source FILE.")
    report = {"note": SYNTHETIC_NOTE, "cpu": _cpu(), "build": build_archive(
        n, work, sources=sources, pool_size=pool_size, progress=progress)}
    code = f"import json,sys; from qa.evaluation.scale import serve; print(json.dumps(serve({str(work)!r}, {n})))"
    out = subprocess.run([sys.executable, "-c", code.replace(f"{str(work)!r}", f"__import__('pathlib').Path({str(work)!r})")],
                         capture_output=True, text=True, env=os.environ.copy())
    if out.returncode != 0:
        raise RuntimeError(f"serving measurement failed:\n{out.stderr[-3000:]}")
    report["serve"] = json.loads(out.stdout.strip().splitlines()[-1])
    return report


def _cpu() -> str:
    from qa.evaluation.stages import cpu_name

    return f"{cpu_name()}, {os.cpu_count()} cores"


def format_scale(report: dict[str, Any]) -> str:
    """The figures of `bench_scale` as lines of text."""
    b, s = report["build"], report["serve"]
    return "\n".join([
        f"NOTE: {report['note']} ({b['pool_sentences']} pool sentences)",
        f"cpu                 {report['cpu']}",
        f"passages            {b['passages']:,} ({b['articles']:,} articles, {b['editions']:,} pages)",
        f"vectors             {b['kind_used']}" + (f", {b['nlist_used']} lists, {b['codes_used']}"
                                                   if b["kind_used"] == "ivf" else ""),
        f"build               {b['build_s']} s (save {b['save_s']} s), peak RSS {b['build_peak_rss_mb']} MB",
        f"load                {s['load_s']} s, RSS {s['rss_loaded_mb']} MB; serving RSS {s['rss_serving_mb']} MB",
        f"disk                {s['disk_total_mb']} MB (store.sqlite {s['disk_mb']['store.sqlite']}, its WAL "
        f"{s['disk_mb'].get('store.sqlite-wal', 0.0)}, vectors {s['disk_mb']['vectors.faiss']})",
        f"recall@10           {s['recall_at_10']} (dense search vs exact over the same vectors)",
        f"dense search        p50 {s['dense_ms']['p50']} ms, p95 {s['dense_ms']['p95']} ms",
        f"lexical search      p50 {s['lexical_ms']['p50']} ms, p95 {s['lexical_ms']['p95']} ms; "
        f"common terms p50 {s['common_terms_lexical_ms']['p50']} ms",
        f"retrieve            p50 {s['retrieve_ms']['p50']} ms, p95 {s['retrieve_ms']['p95']} ms "
        f"({s['questions']} CMRC dev questions)",
        f"ask                 p50 {s['ask_ms']['p50']} ms, p95 {s['ask_ms']['p95']} ms ({s['asks']} questions)",
        f"add one edition     {s['add_s']} s ({s['add_passages']} passages embedded), then save "
        f"{s['add_save_s']} s; answerable: {s['added_answerable']}",
        f"reload              {s.get('reload_s')} s (a served index loading the new version); RSS with both "
        f"versions {s.get('rss_two_versions_mb')} MB",
    ])
