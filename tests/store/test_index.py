"""Index: FAISS wrapper, build / add / remove, atomic save, refusing damaged or foreign folders."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from qa.errors import IndexFormatError, InputError
from qa.paths import sample_editions
from qa.search.retrieve import retrieve
from qa.store.index import FORMAT_VERSION, Index, Vectors, default_index
from qa.store.sqlite import StaleSnapshotError
from qa.text import TOKENIZER_VERSION


def _snapshot(folder: Path) -> dict[str, str]:
    """Name -> sha256 of every file in a folder (to prove a failing call touched nothing); SQLite's
    own -wal/-shm files, which opening a WAL database creates, are left out."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())
            if not p.name.endswith(("-wal", "-shm"))}


def _vectors_file(folder: Path) -> Path:
    return folder / json.loads((folder / "manifest.json").read_text(encoding="utf-8"))["vectors_file"]


@pytest.fixture
def second_edition(tmp_path: Path) -> Path:
    """The sample page again as the next day's edition (date and page from the file name)."""
    sample = sample_editions()[0]
    path = tmp_path / "edition-2020-11-15-p02.txt"
    shutil.copyfile(sample.path, path)
    return path


@pytest.fixture
def hash_index(hash_embedder) -> Index:
    return Index.build(sample_editions(), model=hash_embedder, progress=False)


def test_faiss_search_equals_numpy_brute_force():
    rng = np.random.default_rng(7)
    vecs = rng.normal(size=(300, 32)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    ids = rng.choice(2**62, size=300, replace=False).astype(np.int64)
    store = Vectors(32)
    store.add(ids, vecs)
    for q in rng.normal(size=(5, 32)).astype(np.float32):
        expected = np.argsort(-(vecs @ q), kind="stable")[:10]
        got = store.search(q, 10)
        assert [i for i, _ in got] == ids[expected].tolist()
        np.testing.assert_allclose([s for _, s in got], (vecs @ q)[expected], rtol=1e-5)
        # restricted to a subset: brute force over the same subset
        subset = ids[::7]
        mask = np.isin(ids, subset)
        scores = np.where(mask, vecs @ q, -np.inf)
        expected = np.argsort(-scores, kind="stable")[:5]
        assert [i for i, _ in store.search(q, 5, ids=subset.tolist())] == ids[expected].tolist()
    np.testing.assert_allclose(store.vectors(ids[:3].tolist()), vecs[:3])
    store.remove(ids[:100].tolist())
    assert len(store) == 200 and set(store.ids().tolist()) == set(ids[100:].tolist())


def test_build_counts_and_manifest(hash_index, tmp_path):
    counts = hash_index.manifest["counts"]
    assert counts["editions"] == 1 and counts["passages"] == counts["vectors"] > 10
    folder = hash_index.save(tmp_path / "idx")
    assert sorted(p.name for p in folder.iterdir()) == ["manifest.json", "store.sqlite", "vectors-1.faiss"]
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["format_version"] == FORMAT_VERSION
    assert manifest["model"] == "hash-bigrams-64" and manifest["dimension"] == 64
    assert manifest["generation"] == 1 and manifest["vectors_file"] == "vectors-1.faiss"
    for key in ("package_version", "prompts", "chunk", "fusion", "corpus_sha256", "built_at"):
        assert key in manifest
    assert not list(tmp_path.glob(".idx.*"))  # no temporary sibling left behind


def test_save_load_round_trip_gives_identical_results(hash_index, hash_embedder, tmp_path):
    folder = hash_index.save(tmp_path / "idx")
    loaded = Index.load(folder)
    loaded._embedder = hash_embedder  # the hash model is not a loadable model id
    assert loaded.manifest == hash_index.manifest
    for q in ("义乌绿色动力小镇的规划面积是多少？", "美国馆面积", "half marathon"):
        a = [(h.passage, h.score, h.dense, h.lexical) for h in retrieve(q, k=5, index=hash_index)]
        b = [(h.passage, h.score, h.dense, h.lexical) for h in retrieve(q, k=5, index=loaded)]
        assert a == b and a


def test_ids_stable_across_rebuilds(hash_index, hash_embedder):
    again = Index.build(sample_editions(), model=hash_embedder, progress=False)
    assert again.store.passage_ids() == hash_index.store.passage_ids()
    assert sorted(again.vectors.ids().tolist()) == sorted(hash_index.vectors.ids().tolist())
    assert again.manifest["corpus_sha256"] == hash_index.manifest["corpus_sha256"]


def test_add_and_remove_edition(hash_index, hash_embedder, second_edition):
    before = hash_embedder.passages_embedded
    n = len(hash_index)
    added = hash_index.add_edition(second_edition, date="2020-11-15", page=2)
    assert added == n  # only the new passages
    assert hash_embedder.passages_embedded - before == n
    assert len(hash_index) == 2 * n and hash_index.manifest["counts"]["editions"] == 2
    # adding the same page again replaces it and embeds nothing
    assert hash_index.add_edition(second_edition, date="2020-11-15", page=2) == 0
    assert len(hash_index) == 2 * n
    assert hash_index.remove_edition("2020-11-15") == n
    assert len(hash_index) == n and hash_index.manifest["counts"]["editions"] == 1
    assert set(hash_index.vectors.ids().tolist()) == set(hash_index.store.passage_ids())


def test_filters_by_date_and_page(hash_index, second_edition):
    hash_index.add_edition(second_edition, date="2020-11-15", page=2)
    q = "义乌农商银行发放帮扶资金"
    assert {h.article.date for h in retrieve(q, k=10, index=hash_index)} == {"2020-11-14", "2020-11-15"}
    hits = retrieve(q, k=10, index=hash_index, date="2020-11-15")
    assert hits and all(h.article.date == "2020-11-15" for h in hits)
    hits = retrieve(q, k=10, index=hash_index, page=1)
    assert hits and all(h.article.page == 1 for h in hits)
    assert retrieve(q, k=10, index=hash_index, date="2020-11-15", page=1) == []
    one = hits[0].article.id
    assert {h.article.id for h in retrieve(q, k=10, index=hash_index, article_id=one)} == {one}


def test_missing_manifest_is_refused(hash_index, tmp_path):
    folder = hash_index.save(tmp_path / "idx")
    (folder / "manifest.json").unlink()
    before = _snapshot(folder)
    with pytest.raises(IndexFormatError, match="edition-qa build --index"):
        Index.load(folder)
    assert _snapshot(folder) == before
    with pytest.raises(IndexFormatError, match="manifest.json missing"):
        Index.load(tmp_path / "nowhere")


def test_index_of_an_older_build_with_sentence_vectors_still_loads(hash_index, hash_embedder, tmp_path):
    folder = hash_index.save(tmp_path / "idx")
    (folder / "sentences.faiss").write_bytes(b"vectors the old answer scoring kept")
    loaded = Index.load(folder)
    loaded._embedder = hash_embedder
    assert retrieve("美国馆面积", k=3, index=loaded)
    again = loaded.save(tmp_path / "again")
    assert not (again / "sentences.faiss").exists()


@pytest.mark.parametrize("name", ["store.sqlite", "vectors-1.faiss"])
def test_corrupt_file_is_refused_and_left_untouched(hash_index, tmp_path, name):
    folder = hash_index.save(tmp_path / "idx")
    data = bytearray((folder / name).read_bytes())
    data[: min(len(data), 4096)] = b"\x00garbage" * (min(len(data), 4096) // 8)
    (folder / name).write_bytes(bytes(data))
    before = _snapshot(folder)
    with pytest.raises(IndexFormatError, match=f"{name}.*edition-qa build --index"):
        Index.load(folder)
    assert _snapshot(folder) == before


def test_truncated_vectors_are_refused(hash_index, tmp_path):
    folder = hash_index.save(tmp_path / "idx")
    data = _vectors_file(folder).read_bytes()
    _vectors_file(folder).write_bytes(data[: len(data) // 2])
    with pytest.raises(IndexFormatError, match="vectors-1.faiss"):
        Index.load(folder)


def test_model_and_format_mismatch_are_refused(hash_index, tmp_path):
    folder = hash_index.save(tmp_path / "idx")
    before = _snapshot(folder)
    with pytest.raises(IndexFormatError, match="built with model 'hash-bigrams-64'.*--model"):
        Index.load(folder, model="multilingual-e5-small")
    assert _snapshot(folder) == before
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    manifest["format_version"] = FORMAT_VERSION + 1
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    before = _snapshot(folder)
    with pytest.raises(IndexFormatError, match="format version"):
        Index.load(folder)
    assert _snapshot(folder) == before


def test_index_from_another_text_segmentation_is_refused(hash_index, tmp_path):
    folder = hash_index.save(tmp_path / "idx")
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["tokenizer_version"] == TOKENIZER_VERSION
    manifest["tokenizer_version"] = TOKENIZER_VERSION - 1
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    before = _snapshot(folder)
    with pytest.raises(IndexFormatError, match="segmentation version .*edition-qa build --index"):
        Index.load(folder)
    assert _snapshot(folder) == before


def test_vector_count_mismatch_is_refused(hash_index, hash_embedder, tmp_path):
    folder = hash_index.save(tmp_path / "idx")
    other = tmp_path / "other"
    hash_index.vectors.remove(hash_index.store.passage_ids()[:1])
    hash_index.save(other)
    shutil.copyfile(_vectors_file(other), _vectors_file(folder))
    with pytest.raises(IndexFormatError, match="vectors but .* passages"):
        Index.load(folder)


def test_interrupted_build_leaves_previous_index_intact(hash_index, tmp_path, monkeypatch):
    folder = hash_index.save(tmp_path / "idx")
    before = _snapshot(folder)

    class Broken:
        model_id, dim = "hash-bigrams-64", 64

        def embed_passages(self, texts, *, progress=False):
            raise RuntimeError("model crashed")

    with pytest.raises(RuntimeError, match="model crashed"):
        Index.build(sample_editions(), model=Broken(), progress=False).save(folder)
    # failing midway through writing the new folder
    import qa.store.index

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(qa.store.index, "replace_dir", boom)
    with pytest.raises(OSError, match="disk full"):
        hash_index.save(folder)
    assert _snapshot(folder) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["idx"]  # temporary folder cleaned


def test_failed_add_changes_nothing(hash_index, second_edition, monkeypatch):
    ids = hash_index.store.passage_ids()

    def broken(texts, *, progress=False):
        raise RuntimeError("model crashed")

    monkeypatch.setattr(hash_index.embedder, "embed_passages", broken)
    with pytest.raises(RuntimeError):
        hash_index.add_edition(second_edition, date="2020-11-15", page=2)
    assert hash_index.store.passage_ids() == ids and len(hash_index) == len(ids)


def test_save_replaces_existing_index(hash_index, hash_embedder, second_edition, tmp_path):
    folder = hash_index.save(tmp_path / "idx")
    hash_index.add_edition(second_edition, date="2020-11-15", page=2)
    hash_index.save(folder)
    loaded = Index.load(folder)
    assert loaded.manifest["counts"]["editions"] == 2 and len(loaded) == len(hash_index)


def test_default_index_builds_once_and_is_shared(tmp_path, monkeypatch, hash_embedder):
    import qa.store.index

    monkeypatch.setenv("EDITION_QA_INDEX", str(tmp_path / "default"))
    monkeypatch.setattr(qa.store.index, "_default", None)
    monkeypatch.setattr(qa.store.index, "DEFAULT_MODEL", hash_embedder)
    monkeypatch.setattr(qa.store.index, "_same_model", lambda a, b: True)
    first = default_index()
    assert (tmp_path / "default" / "manifest.json").is_file()
    assert default_index() is first
    monkeypatch.setattr(qa.store.index, "_default", None)
    monkeypatch.setattr(qa.store.index, "_resolve_embedder", lambda model: hash_embedder)
    again = default_index()  # loaded from disk this time
    assert again is not first and again.store.passage_ids() == first.store.passage_ids()


@pytest.mark.slow
def test_sample_index_with_real_model(sample_index):
    m = sample_index.manifest
    assert m["model"] == "multilingual-e5-small" and m["dimension"] == 384
    assert m["prompts"] == {"query": "query: ", "passage": "passage: "}
    assert m["counts"]["passages"] == m["counts"]["vectors"] == len(sample_index)
    titles = {a.title for a in sample_index.articles()}
    assert "义乌绿色动力小镇通过省级命名验收" in titles


def test_changes_in_place_are_invisible_until_saved_then_published_whole(hash_index, hash_embedder,
                                                                         second_edition, tmp_path):
    folder = hash_index.save(tmp_path / "idx")
    n = len(hash_index)
    reader = Index.load(folder, model=hash_embedder)
    writer = Index.load(folder, model=hash_embedder)
    writer.add_edition(second_edition, date="2020-11-15", page=2)
    assert len(Index.load(folder, model=hash_embedder)) == n  # not committed yet
    with pytest.raises(InputError, match="not committed"):
        writer.save(tmp_path / "elsewhere")
    writer.save(folder)
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["generation"] == 2 and manifest == writer.manifest
    assert {p.name for p in folder.glob("vectors-*.faiss")} == {"vectors-1.faiss", "vectors-2.faiss"}
    assert reader.store.counts()["editions"] == 1 and len(reader) == n  # a snapshot of generation 1
    now = Index.load(folder, model=hash_embedder)
    assert len(now) == 2 * n and now.store.counts()["editions"] == 2
    assert set(now.vectors.ids().tolist()) == set(now.store.passage_ids())
    writer.remove_edition("2020-11-15")
    writer.save(folder)
    assert {p.name for p in folder.glob("vectors-*.faiss")} == {"vectors-2.faiss", "vectors-3.faiss"}
    assert len(Index.load(folder, model=hash_embedder)) == n
    with pytest.raises(StaleSnapshotError, match="changed by another writer"):
        now.add_edition(second_edition, date="2020-11-16", page=2)  # its snapshot is generation 2
    for index in (reader, writer, now):
        index.close()


def test_a_version_committed_before_manifest_json_was_replaced_is_loaded(hash_index, hash_embedder,
                                                                         second_edition, tmp_path):
    folder = hash_index.save(tmp_path / "idx")
    old = (folder / "manifest.json").read_text(encoding="utf-8")
    writer = Index.load(folder, model=hash_embedder)
    writer.add_edition(second_edition, date="2020-11-15", page=2)
    writer.save(folder)
    (folder / "manifest.json").write_text(old, encoding="utf-8")  # as if killed right after the commit
    loaded = Index.load(folder, model=hash_embedder)
    assert loaded.manifest["generation"] == 2 and len(loaded) == len(writer)
