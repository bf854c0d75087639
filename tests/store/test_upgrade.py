"""`edition-qa upgrade`: an index folder of format 1 rewritten in format 2, vectors kept."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from qa.errors import IndexFormatError, InputError
from qa.paths import sample_editions
from qa.search.retrieve import retrieve
from qa.store.index import Index
from qa.store.upgrade import upgrade_folder

# The store schema of format 1, as it was written.
_V1 = """
CREATE TABLE editions (date TEXT NOT NULL, page INTEGER NOT NULL, source TEXT NOT NULL DEFAULT '',
    sha256 TEXT NOT NULL DEFAULT '', added TEXT NOT NULL, PRIMARY KEY (date, page));
CREATE TABLE articles (id TEXT PRIMARY KEY, date TEXT NOT NULL, page INTEGER NOT NULL,
    position INTEGER NOT NULL, json TEXT NOT NULL);
CREATE TABLE passages (id INTEGER PRIMARY KEY, article_id TEXT NOT NULL REFERENCES articles (id),
    start INTEGER NOT NULL, "end" INTEGER NOT NULL, text TEXT NOT NULL);
CREATE VIRTUAL TABLE passages_fts USING fts5 (body, headline, detail = column);
PRAGMA user_version = 1;
"""


def format_1(index: Index, folder: Path) -> None:
    """Write `index` as a format 1 folder would hold it."""
    folder.mkdir()
    with sqlite3.connect(folder / "store.sqlite") as conn:
        conn.executescript(_V1)
        for e in index.store.editions():
            conn.execute("INSERT INTO editions VALUES (?, ?, ?, ?, ?)", (e.date, e.page, e.source, e.sha256, e.added))
            for i, a in enumerate(index.store.articles(date=e.date, page=e.page)):
                conn.execute("INSERT INTO articles VALUES (?, ?, ?, ?, ?)",
                             (a.id, a.date, a.page, i, json.dumps(a.to_dict(), ensure_ascii=False)))
        for p in index.store.passages(index.store.passage_ids()):
            conn.execute("INSERT INTO passages VALUES (?, ?, ?, ?, ?)", (p.id, p.article_id, p.start, p.end, p.text))
    index.vectors.write(folder / "vectors.faiss")
    manifest = {k: v for k, v in index.manifest.items() if k != "vectors_file"}
    (folder / "manifest.json").write_text(json.dumps({**manifest, "format_version": 1}), encoding="utf-8")


def test_a_format_1_folder_is_upgraded_without_re_embedding(hash_embedder, tmp_path):
    index = Index.build(sample_editions(), model=hash_embedder, progress=False)
    index.save(tmp_path / "new")
    folder = tmp_path / "old"
    format_1(index, folder)
    with pytest.raises(IndexFormatError, match="edition-qa upgrade --index"):
        Index.load(folder)
    embedded = hash_embedder.passages_embedded
    counts = upgrade_folder(folder)
    assert hash_embedder.passages_embedded == embedded  # nothing embedded
    assert counts["passages"] == len(index) and counts["editions"] == 1
    upgraded = Index.load(folder, model=hash_embedder)
    assert upgraded.manifest["format_version"] == 2 and not (folder / "vectors.faiss").exists()
    assert upgraded.store.editions() == index.store.editions()  # "added" times kept
    assert upgraded.store.passages(upgraded.store.passage_ids()) == index.store.passages(index.store.passage_ids())
    for q in ("义乌绿色动力小镇的规划面积是多少？", "美国馆面积"):
        a = [(h.passage, h.score) for h in retrieve(q, k=5, index=index)]
        assert a and [(h.passage, h.score) for h in retrieve(q, k=5, index=upgraded)] == a
    with pytest.raises(InputError, match="already format 2"):
        upgrade_folder(folder)
    shutil.rmtree(tmp_path / "new")
