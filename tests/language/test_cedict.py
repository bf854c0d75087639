"""CC-CEDICT both ways: a small dictionary file written by the test, and the shipped one."""

from __future__ import annotations

import gzip

import pytest

from qa.errors import ModelError
from qa.language.cedict import Dictionary, get_dictionary, gloss_key

SMALL = """# CC-CEDICT test file
馬拉松 马拉松 [ma3 la1 song1] /marathon (loanword)/
賽道 赛道 [sai4 dao4] /race course/
面積 面积 [mian4 ji1] /area (of a floor, piece of land etc)/surface area/
地方 地方 [di4 fang5] /region/place/area/
動力 动力 [dong4 li4] /motive power/force/
義烏 义乌 [Yi4 wu1] /Yiwu county level city in Jinhua, Zhejiang/
美國 美国 [Mei3 guo2] /United States/USA/US/
我們 我们 [wo3 men5] /we/us/ourselves/
見 见 [jian4] /see 看見|看见[kan4 jian4]/
"""


@pytest.fixture
def small(tmp_path):
    path = tmp_path / "cedict.txt.gz"
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write(SMALL)
    return Dictionary(path, frequency={"地方": 10, "面积": 1000})


def test_gloss_key():
    assert gloss_key("To Build") == "build"
    assert gloss_key("the race-course!") == "race-course"
    assert gloss_key("  ") == ""


def test_english_to_chinese_ranks_whole_senses_and_common_words(small):
    assert small.chinese("marathon") == ["马拉松"]
    assert small.chinese("race course") == ["赛道"]
    # both senses are whole; 面积's is its first, 地方's its third, which outweighs its frequency
    assert small.chinese("area") == ["面积", "地方"]
    # a phrase is also found by its head word, ranked below words whose own sense it is
    assert small.chinese("power") == ["动力"]
    assert small.chinese("force") == ["动力"]
    assert small.chinese("unknown words") == []


def test_proper_nouns_by_pinyin_and_acronyms_by_case(small):
    assert small.chinese("Yiwu") == ["义乌"]
    assert small.acronym("US") == ["美国"]
    assert small.chinese("us") == ["我们", "美国"]
    assert small.acronym("EU") == []


def test_chinese_to_english_skips_cross_references(small):
    assert small.english("面积") == ["area (of a floor, piece of land etc)", "surface area"]
    assert small.english("见") == []  # only a "see ..." sense
    assert small.english("没有") == []


def test_broken_file_is_a_model_error(tmp_path):
    bad = tmp_path / "cedict.txt.gz"
    bad.write_bytes(b"not gzip at all")
    with pytest.raises(ModelError, match="cannot read the dictionary"):
        Dictionary(bad, frequency={})


def test_shipped_dictionary_loads():
    d = get_dictionary()
    assert d.entries > 100_000
    assert "植物园" in d.chinese("botanical garden")
    assert "马拉松" in d.chinese("marathon")
    assert d.english("俄罗斯")[0] == "Russia"


def test_the_stored_dictionary_answers_as_the_one_in_memory(small, tmp_path):
    from qa.language.cedict import StoredDictionary

    path = tmp_path / "a dir #1" / "cedict.sqlite"
    path.parent.mkdir()
    small.write(path)
    stored = StoredDictionary(path)
    assert stored.entries == small.entries
    for english in ("marathon", "race course", "area", "power", "Yiwu", "us", "unknown words"):
        assert stored.chinese(english, top=5) == small.chinese(english, top=5)
    assert stored.acronym("US") == small.acronym("US") == ["美国"]
    for word in ("面积", "见", "义乌", "没有"):
        assert stored.english(word) == small.english(word)
        assert stored.first_meaning(word) == small.first_meaning(word)


def test_the_shipped_dictionary_is_stored_once_and_a_damaged_store_is_rebuilt(tmp_path, monkeypatch):
    import qa.language.cedict as cedict

    monkeypatch.setenv("EDITION_QA_CACHE", str(tmp_path))
    monkeypatch.setattr(cedict, "_SHARED", None)
    first = cedict.get_dictionary()
    (store,) = (tmp_path / "dictionary").glob("cedict-*.sqlite")
    assert isinstance(first, cedict.StoredDictionary) and "马拉松" in first.chinese("marathon")
    monkeypatch.setattr(cedict, "_SHARED", None)
    built = []
    monkeypatch.setattr(cedict, "Dictionary", lambda *a, **k: built.append(1) or pytest.fail("built again"))
    again = cedict.get_dictionary()  # read from the store, not built
    assert again.chinese("botanical garden") == first.chinese("botanical garden") and not built
    store.write_bytes(b"damaged" * 100)
    monkeypatch.undo()
    monkeypatch.setenv("EDITION_QA_CACHE", str(tmp_path))
    monkeypatch.setattr(cedict, "_SHARED", None)
    with pytest.raises(ModelError, match="is damaged"):
        cedict.StoredDictionary(store)
    assert "植物园" in cedict.get_dictionary().chinese("botanical garden")  # rebuilt
