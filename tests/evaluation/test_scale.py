"""The synthetic archive of `bench scale`: real text, vectors from real sentence vectors, exact truth."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from qa.evaluation.scale import SYNTHETIC_NOTE, build_archive, sentence_pool
from qa.text import split_sentences

DATA = Path(__file__).parents[1] / "data"


@pytest.mark.slow
def test_small_archive_is_real_text_with_mean_sentence_vectors(tmp_path: Path) -> None:
    from qa.models.embed import get_embedder
    from qa.store.index import Index

    sources = [DATA / "squad_small.json"]
    report = build_archive(120, tmp_path, sources=sources, pool_size=30, progress=False, questions=3)
    assert report["passages"] >= 120 and report["editions"] >= 1
    index = Index.load(report["folder"])
    try:
        assert len(index) == report["passages"]
        pool = sentence_pool(sources, tmp_path, size=30, embedder=get_embedder("multilingual-e5-small"))
        pool_text = "".join(pool["sentences"])
        passages = index.store.passages(index.store.passage_ids())
        # every passage is made of pool sentences, and its vector is a unit mean of theirs
        pieces = [p.text[a:b].strip() for p in passages for a, b in split_sentences(p.text)]
        assert pieces and all(piece in pool_text for piece in pieces if piece)
        vecs = index.vectors.vectors([p.id for p in passages])
        assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-4)
        of = {text: pool["vectors"][i] for i, text in reversed(list(enumerate(pool["sentences"])))}
        for p, v in zip(passages, vecs):
            mean = np.mean([of[p.text[a:b].strip()] for a, b in split_sentences(p.text)], axis=0)
            assert np.allclose(v, mean / np.linalg.norm(mean), atol=1e-3)
        # the recorded truth is exact search over the same vectors
        queries = np.load(tmp_path / f"queries-{120}.npy")
        truth = np.load(tmp_path / f"truth-{120}.npy")
        for q, row in zip(queries, truth):
            best = index.vectors.search(q, 1)[0][0]
            assert best == row[0] or np.isclose(vecs[[p.id for p in passages].index(best)] @ q,
                                                vecs[[p.id for p in passages].index(int(row[0]))] @ q)
    finally:
        index.close()
    assert "synthetic" in SYNTHETIC_NOTE
    assert json.loads((tmp_path / "questions-120.json").read_text(encoding="utf-8"))


def test_passage_terms_from_sentence_terms_equal_segmenting_the_passage() -> None:
    """The archive indexes a passage under its sentences' terms joined; they must be exactly
    `segment(text)`, which removing a page deletes from the contentless FTS table."""
    from qa.evaluation.scale import _pages
    from qa.store.lexical import segment

    sentences = ["2019年3月，公司在北京成立。", "项目总投资4.78亿元，占地3.32平方公里。", "全长42.195km的赛道有1.5万人参加！",
                 "Model X在2020年发布；售价80万元。", "他说：“这是第1期工程。”", "随后又投资了2019年的3个项目。"]
    pool = {"sentences": sentences, "terms": [segment(s) for s in sentences], "topics": [("t", 0, len(sentences))],
            "vectors": np.eye(len(sentences), 8, dtype=np.float32)}
    checked = 0
    for _, _, _, passages, terms, _ in _pages(pool, 60, pages_per_day=2, per_page=10, first_date="2020-01-02", seed=1):
        for p in passages:
            assert terms[p.id] == segment(p.text)
            checked += 1
    assert checked >= 60
