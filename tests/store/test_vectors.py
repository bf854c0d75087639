"""Vectors: each kind checked against numpy brute force, IVF recall, round trip, remove, filters."""

from __future__ import annotations

import faiss
import numpy as np
import pytest

from qa.store.vectors import Vectors

DIM = 32


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def clustered(n: int, *, seed: int = 0, clusters: int = 40, noise: float = 0.35) -> np.ndarray:
    """Unit vectors around `clusters` random centres (like topics of an archive)."""
    rng = np.random.default_rng(seed)
    centres = unit(rng.standard_normal((clusters, DIM)))
    return unit(centres[rng.integers(0, clusters, n)] + noise * rng.standard_normal((n, DIM)))


def ids_for(n: int) -> np.ndarray:
    return np.random.default_rng(1).permutation(np.arange(n, dtype=np.int64) * 7919 + (1 << 40))


def brute(x: np.ndarray, ids: np.ndarray, q: np.ndarray, k: int) -> list[int]:
    return [int(ids[i]) for i in np.argsort(-(x @ q), kind="stable")[:k]]


SETTINGS = {
    "flat": {"kind": "flat"},
    "ivf": {"kind": "ivf", "nlist": 16, "nprobe": 16},  # every list probed: exact up to the codes
    "ivf-fp16": {"kind": "ivf", "nlist": 16, "nprobe": 16, "codes": "fp16"},
}


@pytest.fixture(params=sorted(SETTINGS))
def filled(request: pytest.FixtureRequest) -> tuple[Vectors, np.ndarray, np.ndarray]:
    x, ids = clustered(2000), ids_for(2000)
    v = Vectors(DIM, settings=SETTINGS[request.param])
    v.add(ids, x)
    return v, x, ids


def test_kind_and_size(filled: tuple[Vectors, np.ndarray, np.ndarray]) -> None:
    v, _, ids = filled
    assert v.kind == v.settings["kind"]
    assert len(v) == 2000 and sorted(v.ids().tolist()) == sorted(ids.tolist())


def test_search_matches_brute_force(filled: tuple[Vectors, np.ndarray, np.ndarray]) -> None:
    v, x, ids = filled
    for q in clustered(20, seed=5):
        got = v.search(q, 10)
        want = brute(x, ids, q, 10)
        if v.kind == "flat":
            assert [i for i, _ in got] == want
            assert np.allclose([s for _, s in got], np.sort(x @ q)[::-1][:10], atol=1e-5)
        else:  # all lists probed; 8-bit codes may swap near ties only
            assert len(set(i for i, _ in got) & set(want)) >= 9


def test_reconstruct_and_get(filled: tuple[Vectors, np.ndarray, np.ndarray]) -> None:
    v, x, ids = filled
    got = v.vectors(ids[:5])
    assert np.allclose(got, x[:5], atol=0.02 if v.kind == "ivf" else 1e-6)
    assert v.get([int(ids[0]), 12345]) is None


def test_filter_few_is_exact(filled: tuple[Vectors, np.ndarray, np.ndarray]) -> None:
    v, x, ids = filled
    keep = np.arange(0, 2000, 97)
    q = clustered(1, seed=9)[0]
    got = v.search(q, 5, ids=ids[keep].tolist())
    assert [i for i, _ in got] == brute(x[keep], ids[keep], q, 5)
    assert v.search(q, 5, ids=[]) == []


def test_filter_many_stays_inside(filled: tuple[Vectors, np.ndarray, np.ndarray]) -> None:
    v, x, ids = filled
    v.settings["exact_filter_max"] = 10  # force the IVF selector path
    keep = ids[::3]
    got = v.search(clustered(1, seed=3)[0], 20, ids=keep.tolist())
    assert len(got) == 20 and set(i for i, _ in got) <= set(keep.tolist())


def test_remove(filled: tuple[Vectors, np.ndarray, np.ndarray]) -> None:
    v, x, ids = filled
    gone = ids[:500]
    v.remove(int(i) for i in gone)
    v.remove([])
    assert len(v) == 1500 and not set(v.ids().tolist()) & set(gone.tolist())
    q = x[0]
    got = [i for i, _ in v.search(q, 10)]
    assert int(ids[0]) not in got and len(got) == 10
    assert v.get([int(ids[0])]) is None
    v.add(ids[:1], x[:1])  # and back
    assert v.search(q, 1)[0][0] == int(ids[0])


def test_round_trip(filled: tuple[Vectors, np.ndarray, np.ndarray], tmp_path) -> None:
    v, x, ids = filled
    v.write(tmp_path / "v.faiss")
    back = Vectors.read(tmp_path / "v.faiss", settings=v.settings)
    assert back.kind == v.kind and len(back) == len(v)
    q = x[3]
    assert back.search(q, 10) == v.search(q, 10)
    assert np.array_equal(back.vectors(ids[:3]), v.vectors(ids[:3]))
    back.remove([int(ids[3])])
    back.add([7], x[3:4])
    assert back.search(q, 1)[0][0] == 7


def test_old_flat_file_loads(tmp_path) -> None:
    """An index folder written before the kinds existed: a bare IndexIDMap2 over IndexFlatIP."""
    x, ids = clustered(50), ids_for(50)
    old = faiss.IndexIDMap2(faiss.IndexFlatIP(DIM))
    old.add_with_ids(x, ids)
    faiss.write_index(old, str(tmp_path / "vectors.faiss"))
    v = Vectors.read(tmp_path / "vectors.faiss")
    assert v.kind == "flat" and v.describe() == {"kind_used": "flat"}
    assert [i for i, _ in v.search(x[0], 3)] == brute(x, ids, x[0], 3)


def test_auto_switches_past_exact_max() -> None:
    x, ids = clustered(3000), ids_for(3000)
    v = Vectors(DIM, settings={"exact_max": 1000, "nlist": 16, "nprobe": 4})
    v.add(ids[:1000], x[:1000])
    assert v.kind == "flat"
    v.add(ids[1000:1001], x[1000:1001])
    assert v.kind == "ivf" and len(v) == 1001
    v.add(ids[1001:], x[1001:])
    assert len(v) == 3000 and v.describe()["nlist_used"] == 16
    assert sorted(v.ids().tolist()) == sorted(ids.tolist())


def test_ivf_recall_on_clustered_data() -> None:
    """nprobe 6 of 32 lists: recall@10 against exact stays high on clustered data."""
    x, ids = clustered(20000, seed=2, noise=0.1), ids_for(20000)
    v = Vectors(DIM, settings={"kind": "ivf", "nlist": 32, "nprobe": 6})
    v.add(ids, x)
    queries = clustered(100, seed=11, noise=0.1)
    recall = np.mean([len({i for i, _ in v.search(q, 10)} & set(brute(x, ids, q, 10))) / 10
                      for q in queries])
    assert recall >= 0.9
