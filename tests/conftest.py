"""Shared fixtures: the real embedder and one index over the bundled sample, built once per session.

`sample_index` is shared by every test file: read from it, never change it (add/remove on
`Index.load(sample_index_dir)`, which works on a private copy). `hash_embedder` is a tiny
deterministic stand-in for tests of index mechanics that do not need the real model.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


class HashEmbedder:
    """Character-bigram hashing into unit vectors: fast, deterministic, no model files."""

    model_id = "hash-bigrams-64"
    dim = 64
    prompts = {"query": "", "passage": ""}

    def __init__(self) -> None:
        self.passages_embedded = 0

    def _embed(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            grams = [text[i:i + 2] for i in range(max(len(text) - 1, 1))]
            for g in grams:
                h = int.from_bytes(hashlib.blake2b(g.encode(), digest_size=4).digest(), "little")
                out[row, h % self.dim] += 1.0
            norm = np.linalg.norm(out[row])
            out[row] = out[row] / norm if norm else 1.0 / np.sqrt(self.dim)
        return out

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return self._embed(list(texts))

    def embed_passages(self, texts: list[str], *, progress: bool = False) -> np.ndarray:
        self.passages_embedded += len(texts)
        return self._embed(list(texts))


@pytest.fixture
def hash_embedder() -> HashEmbedder:
    return HashEmbedder()


@pytest.fixture(scope="session")
def embedder():
    """The real multilingual-e5-small embedder (one shared instance)."""
    from qa.models.embed import get_embedder

    return get_embedder("multilingual-e5-small")


@pytest.fixture(scope="session")
def sample_index_dir(tmp_path_factory, embedder) -> Path:
    """The sample edition indexed with the real model and saved in a session tmp folder."""
    from qa.paths import sample_editions
    from qa.store.index import Index

    folder = tmp_path_factory.mktemp("index") / "sample"
    Index.build(sample_editions(), model="multilingual-e5-small", progress=False).save(folder)
    return folder


@pytest.fixture(scope="session")
def sample_index(sample_index_dir):
    """A loaded Index over the bundled sample edition; shared, so do not change it."""
    from qa.store.index import Index

    return Index.load(sample_index_dir)
