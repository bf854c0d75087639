"""FAISS vectors keyed by 63-bit ids: passages for search, sentences for answer scoring."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["Vectors"]


class Vectors:
    """FAISS IndexIDMap2 over an exact inner-product index, keyed by passage (or sentence) id."""

    def __init__(self, dim: int, index: Any = None) -> None:
        import faiss  # lazily: keeps `import qa` fast

        self.dim = dim
        self.faiss = index if index is not None else faiss.IndexIDMap2(faiss.IndexFlatIP(dim))

    def __len__(self) -> int:
        return int(self.faiss.ntotal)

    def ids(self) -> np.ndarray:
        import faiss

        return faiss.vector_to_array(self.faiss.id_map).astype(np.int64)

    def add(self, ids: Sequence[int], vectors: np.ndarray) -> None:
        if len(ids):
            self.faiss.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32),
                                    np.asarray(ids, dtype=np.int64))

    def remove(self, ids: Iterable[int]) -> None:
        import faiss

        arr = np.fromiter(ids, dtype=np.int64)
        if arr.size:
            self.faiss.remove_ids(faiss.IDSelectorBatch(arr))

    def vectors(self, ids: Sequence[int]) -> np.ndarray:
        """The stored vectors of `ids` (each must be present)."""
        out = np.empty((len(ids), self.dim), dtype=np.float32)
        for row, pid in enumerate(ids):
            out[row] = self.faiss.reconstruct(int(pid))
        return out

    def get(self, ids: Sequence[int]) -> np.ndarray | None:
        """The stored vectors of `ids`, or None when any of them is missing."""
        try:
            return self.vectors(ids)
        except RuntimeError:  # faiss: id not found in the IDMap2
            return None

    def search(self, query: np.ndarray, k: int, *, ids: Sequence[int] | None = None
               ) -> list[tuple[int, float]]:
        """Top `k` (id, inner product), best first; `ids` restricts the search to those passages."""
        import faiss

        if k <= 0 or len(self) == 0 or (ids is not None and len(ids) == 0):
            return []
        q = np.ascontiguousarray(np.asarray(query, dtype=np.float32).reshape(1, -1))
        params = None
        if ids is not None:
            params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(np.asarray(ids, dtype=np.int64)))
        # One query over a few thousand vectors is sub-millisecond on one thread; OpenMP's
        # thread team made it 20 ms p50 on a busy 2-core machine (CMRC dev corpus). The
        # setting is per calling thread and shared with torch, hence restored.
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)
        try:
            scores, found = self.faiss.search(q, min(k, len(self)), params=params)
        finally:
            faiss.omp_set_num_threads(threads)
        return [(int(i), float(s)) for i, s in zip(found[0], scores[0]) if i != -1]

    def write(self, path: Path) -> None:
        import faiss

        faiss.write_index(self.faiss, str(path))

    @classmethod
    def read(cls, path: Path) -> Vectors:
        import faiss

        index = faiss.read_index(str(path))
        if not isinstance(index, faiss.IndexIDMap2):
            raise ValueError(f"expected an IndexIDMap2, found {type(index).__name__}")
        return cls(index.d, index)
