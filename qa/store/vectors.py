"""FAISS vectors keyed by 63-bit passage ids: exact while small, IVF over 8-bit codes when large.

Two kinds, chosen by size (settings "vectors" of the index manifest):
- "flat": `IndexIDMap2(IndexFlatIP)`, exact, float32 (1.5 KB a vector). Every index up to
  `exact_max` vectors, and every index written before the kinds existed.
- "ivf": `IndexIVFScalarQuantizer` (inverted lists, 8-bit per dimension codes: 384 B a
  vector), with the passage ids stored in its lists and a hashtable direct map, so that
  add with ids, remove and reconstruct work without an id map. An "auto" flat index turns
  into one when it grows past `exact_max`: the coarse centroids are trained on the vectors
  it holds then, and stay (k-means on news embeddings is stable as the archive grows).

A search restricted to a few passages (a date or page filter) is exact over just those
vectors: an IVF search probes `nprobe` lists and would miss passages outside them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["DEFAULT_VECTOR_SETTINGS", "Vectors"]

# One exact top-50 query on one core of a busy 2-core Zen 4 EPYC: 10k vectors 0.4 ms p50,
# 100k 14 ms, 200k 24 ms, 400k 55 ms (about 140 ms at 1M): exact stays up to 100k.
# IVF parameters: see README "Scale" (`edition-qa bench scale`).
DEFAULT_VECTOR_SETTINGS: dict[str, Any] = {
    "kind": "auto",  # "auto" (flat, then ivf past exact_max), "flat" or "ivf"
    "exact_max": 100_000,
    "nlist": 1024,  # IVF lists (coarse centroids), fewer when trained on fewer vectors
    # lists searched per query; 1M synthetic passages (bench scale), 1,024 lists, SQ8: recall@10
    # 0.923 / 0.952 / 0.959 / 0.964 / 0.973 at 32 / 64 / 96 / 128 / 256, 3.0 / 5.6 / 8.6 / 11.5 /
    # 22.3 ms p50 on one core: 128 leaves a margin over the 0.95 target at 12 ms.
    "nprobe": 128,
    "codes": "sq8",  # "sq8" (8-bit per dimension) or "fp16"
    "exact_filter_max": 50_000,  # filters matching at most this many passages search exactly
}
_CODES = {"sq8": "QT_8bit", "fp16": "QT_fp16"}


def _one_thread() -> Any:
    """Context manager running FAISS on the calling thread only.

    One query is sub-millisecond to a few ms; OpenMP's thread team made it 20 ms p50 on a busy
    2-core machine (CMRC dev corpus). The setting is per thread and shared with torch.
    """
    import contextlib

    import faiss

    @contextlib.contextmanager
    def scope() -> Any:
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)
        try:
            yield
        finally:
            faiss.omp_set_num_threads(threads)

    return scope()


class Vectors:
    """Unit vectors keyed by passage id, searched by inner product (see the module doc)."""

    def __init__(self, dim: int, index: Any = None, *, settings: dict[str, Any] | None = None) -> None:
        import faiss  # lazily: keeps `import qa` fast

        self.dim = dim
        self.settings = {**DEFAULT_VECTOR_SETTINGS, **(settings or {})}
        if self.settings["codes"] not in _CODES:
            raise ValueError(f"vector codes must be one of {', '.join(_CODES)}")
        self.faiss = index if index is not None else faiss.IndexIDMap2(faiss.IndexFlatIP(dim))

    @property
    def kind(self) -> str:
        """"flat" (exact) or "ivf" (approximate)."""
        import faiss

        return "ivf" if isinstance(self.faiss, faiss.IndexIVF) else "flat"

    def describe(self) -> dict[str, Any]:
        """The kind in use and its parameters (for the manifest)."""
        if self.kind == "flat":
            return {"kind_used": "flat"}
        return {"kind_used": "ivf", "nlist_used": int(self.faiss.nlist),
                "codes_used": self.settings["codes"] if self.faiss.code_size != 2 * self.dim else "fp16"}

    def __len__(self) -> int:
        return int(self.faiss.ntotal)

    def ids(self) -> np.ndarray:
        import faiss

        if self.kind == "flat":
            return faiss.vector_to_array(self.faiss.id_map).astype(np.int64)
        lists = self.faiss.invlists
        parts = [faiss.rev_swig_ptr(lists.get_ids(i), lists.list_size(i)).copy()
                 for i in range(lists.nlist) if lists.list_size(i)]
        return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, dtype=np.int64)

    def add(self, ids: Sequence[int], vectors: np.ndarray) -> None:
        if not len(ids):
            return
        x = np.ascontiguousarray(vectors, dtype=np.float32).reshape(len(ids), self.dim)
        keys = np.asarray(ids, dtype=np.int64)
        wanted = self.settings["kind"]
        if self.kind == "flat" and (wanted == "ivf" or (
                wanted == "auto" and len(self) + len(keys) > int(self.settings["exact_max"]))):
            self._to_ivf(keys, x)
            return
        with _one_thread() if len(keys) < 1000 else _noop():
            self.faiss.add_with_ids(x, keys)

    def _to_ivf(self, keys: np.ndarray, x: np.ndarray) -> None:
        """Replace the flat index by an IVF one trained on its vectors plus (keys, x)."""
        import faiss

        old_keys = self.ids()
        old = self.faiss.index.reconstruct_n(0, len(old_keys)) if len(old_keys) else x[:0]
        keys, x = np.concatenate([old_keys, keys]), np.concatenate([old, x])
        # FAISS wants >= 39 training points a list; fewer lists when there are few vectors.
        nlist = max(1, min(int(self.settings["nlist"]), 2 ** int(math.log2(max(1, len(x) // 39)))))
        quantizer = faiss.IndexFlatIP(self.dim)
        qtype = getattr(faiss.ScalarQuantizer, _CODES[self.settings["codes"]])
        ivf = faiss.IndexIVFScalarQuantizer(quantizer, self.dim, nlist, qtype, faiss.METRIC_INNER_PRODUCT)
        ivf.cp.max_points_per_centroid = 64  # k-means on <= 64 x nlist samples: seconds, not minutes
        sample = x if len(x) <= 64 * nlist else x[np.random.default_rng(0).choice(len(x), 64 * nlist,
                                                                                   replace=False)]
        ivf.train(sample)
        ivf.set_direct_map_type(faiss.DirectMap.Hashtable)
        ivf.nprobe = int(self.settings["nprobe"])
        ivf.add_with_ids(x, keys)
        ivf.quantizer_trains_alone = 0
        self._quantizer = quantizer  # the IVF index refers to it; keep it alive with us
        self.faiss = ivf

    def remove(self, ids: Iterable[int]) -> None:
        import faiss

        arr = np.fromiter(ids, dtype=np.int64)
        if not arr.size:
            return
        if self.kind == "flat":
            self.faiss.remove_ids(faiss.IDSelectorBatch(arr))
        else:  # the hashtable direct map removes by an explicit array of ids only
            present = arr[np.isin(arr, self.ids())]
            if present.size:
                self.faiss.remove_ids(faiss.IDSelectorArray(present))

    def vectors(self, ids: Sequence[int]) -> np.ndarray:
        """The stored vectors of `ids` (each must be present; approximate for "ivf")."""
        keys = np.asarray(ids, dtype=np.int64)
        if not keys.size:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.asarray(self.faiss.reconstruct_batch(keys), dtype=np.float32).reshape(len(keys), self.dim)

    def get(self, ids: Sequence[int]) -> np.ndarray | None:
        """The stored vectors of `ids`, or None when any of them is missing."""
        try:
            return self.vectors(ids)
        except RuntimeError:  # faiss: id not found
            return None

    def search(self, query: np.ndarray, k: int, *, ids: Sequence[int] | None = None
               ) -> list[tuple[int, float]]:
        """Top `k` (id, inner product), best first; `ids` restricts the search to those passages."""
        import faiss

        if k <= 0 or len(self) == 0 or (ids is not None and len(ids) == 0):
            return []
        q = np.ascontiguousarray(np.asarray(query, dtype=np.float32).reshape(1, -1))
        params = None
        if self.kind == "ivf":
            nprobe = int(self.settings["nprobe"])
            if ids is not None:
                keys = np.asarray(ids, dtype=np.int64)
                if len(keys) <= int(self.settings["exact_filter_max"]):
                    return self._exact_over(q[0], keys, k)
                # A filter keeping a share f of the passages: probe 1/f times more lists, so
                # that about as many allowed vectors are scanned as without a filter.
                nprobe = min(int(self.faiss.nlist), math.ceil(nprobe * len(self) / len(keys)))
                params = faiss.SearchParametersIVF(nprobe=nprobe, sel=faiss.IDSelectorBatch(keys))
            else:
                params = faiss.SearchParametersIVF(nprobe=nprobe)
        elif ids is not None:
            params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(np.asarray(ids, dtype=np.int64)))
        with _one_thread():
            scores, found = self.faiss.search(q, min(k, len(self)), params=params)
        return [(int(i), float(s)) for i, s in zip(found[0], scores[0]) if i != -1]

    def _exact_over(self, query: np.ndarray, keys: np.ndarray, k: int) -> list[tuple[int, float]]:
        """Exact top `k` over the (reconstructed) vectors of `keys`; unknown ids are skipped."""
        vecs = self.get(keys)
        if vecs is None:  # some ids unknown: keep the known ones
            keys = keys[np.isin(keys, self.ids())]
            vecs = self.vectors(keys)
        scores = vecs @ query
        top = np.argsort(-scores, kind="stable")[:k]
        return [(int(keys[i]), float(scores[i])) for i in top]

    def write(self, path: Path) -> None:
        import faiss

        faiss.write_index(self.faiss, str(path))

    @classmethod
    def read(cls, path: Path, *, settings: dict[str, Any] | None = None) -> Vectors:
        import faiss

        index = faiss.read_index(str(path))
        if isinstance(index, faiss.IndexIVF):
            if index.direct_map.type != faiss.DirectMap.Hashtable:
                raise ValueError("expected an IVF index with a hashtable direct map")
            vectors = cls(index.d, index, settings=settings)
            index.nprobe = int(vectors.settings["nprobe"])
            return vectors
        if not isinstance(index, faiss.IndexIDMap2):
            raise ValueError(f"expected an IndexIDMap2 or IndexIVF, found {type(index).__name__}")
        return cls(index.d, index, settings=settings)


def _noop() -> Any:
    import contextlib

    return contextlib.nullcontext()
