"""Paths: environment overrides and the bundled sample edition."""

from __future__ import annotations

from qa import paths


def test_cache_dir_honours_overrides(monkeypatch, tmp_path):
    monkeypatch.delenv("EDITION_QA_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert paths.cache_dir() == tmp_path / "xdg" / "edition-qa"
    monkeypatch.setenv("EDITION_QA_CACHE", str(tmp_path / "own"))
    assert paths.cache_dir() == tmp_path / "own"
    monkeypatch.delenv("EDITION_QA_MODELS", raising=False)
    assert paths.models_dir() == tmp_path / "own" / "models"
    monkeypatch.setenv("EDITION_QA_MODELS", str(tmp_path / "m"))
    assert paths.models_dir() == tmp_path / "m"


def test_default_index_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("EDITION_QA_INDEX", str(tmp_path / "idx"))
    assert paths.default_index_dir() == tmp_path / "idx"
    monkeypatch.delenv("EDITION_QA_INDEX")
    assert paths.default_index_dir().parts[-2:] == ("index", "default")


def test_sample_edition_is_bundled_with_its_metadata():
    (sample,) = paths.sample_editions()
    assert sample.date == "2020-11-14" and sample.page == 1
    text = sample.path.read_text(encoding="utf-8")
    assert "义乌绿色动力小镇通过省级命名验收" in text
    assert "（下转第二版）" in text
