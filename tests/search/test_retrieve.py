"""retrieve: question cleaning, fusion arithmetic, de-duplication, filters, real questions."""

from __future__ import annotations

import itertools

import pytest

from qa.errors import QuestionError
from qa.evaluation.benchmarks import passage_recall
from qa.paths import sample_editions
from qa.search.retrieve import (
    MAX_QUESTION_CHARS,
    Candidate,
    clean_question,
    fuse,
    retrieve,
)
from qa.store.index import Index


@pytest.fixture(scope="module")
def hash_index():
    from conftest import HashEmbedder

    return Index.build(sample_editions(), model=HashEmbedder(), progress=False)


@pytest.mark.parametrize("question", ["", "   ", "\n\t"])
def test_empty_question_is_refused(question):
    with pytest.raises(QuestionError, match="empty"):
        clean_question(question)


def test_non_text_question_is_refused():
    with pytest.raises(QuestionError):
        clean_question(None)


def test_long_question_is_cut_at_a_break():
    text = "义乌绿色动力小镇的规划面积是多少？" * 40
    cut = clean_question(text)
    assert len(cut) <= MAX_QUESTION_CHARS and cut.endswith("？")
    assert clean_question("x" * 1000) == "x" * MAX_QUESTION_CHARS
    assert clean_question("  what   is\nit ") == "what is it"


def _c(pid, dense, lexical, dr, lr):
    return Candidate(pid, dense, lexical, dr, lr)


def test_fusion_by_hand():
    cands = [_c(1, 0.9, None, 0, None), _c(2, 0.8, 10.0, 1, 0), _c(3, 0.7, 5.0, None, 1)]
    # weighted 0.5: 1 -> 0.5*1 + 0 = 0.5; 2 -> 0.5*0.5 + 0.5*1 = 0.75; 3 -> 0 + 0.25 = 0.25
    got = fuse(cands, {"method": "weighted", "dense_weight": 0.5})
    assert [i for i, _ in got] == [2, 1, 3]
    assert [round(s, 6) for _, s in got] == [0.75, 0.5, 0.25]
    # rrf k=1: 1 -> 1/2; 2 -> 1/3 + 1/2; 3 -> 1/3
    got = fuse(cands, {"method": "rrf", "rrf_k": 1})
    assert [i for i, _ in got] == [2, 1, 3]
    assert round(got[0][1], 6) == round(1 / 3 + 1 / 2, 6)
    assert [i for i, _ in fuse(cands, {"method": "dense"})] == [1, 2, 3]
    assert [i for i, _ in fuse(cands, {"method": "lexical"})] == [2, 3, 1]


def test_hub_weight_demotes_a_passage_close_to_every_question():
    cands = [Candidate(1, 0.76, None, 0, None, hub=0.80), Candidate(2, 0.75, None, 1, None, hub=0.74)]
    assert [i for i, _ in fuse(cands, {"method": "dense"})] == [1, 2]
    # 0.76 - 0.25 * 0.80 = 0.56 < 0.75 - 0.25 * 0.74 = 0.565
    assert [i for i, _ in fuse(cands, {"method": "dense", "hub_weight": 0.25})] == [2, 1]


@pytest.mark.parametrize("method", ["weighted", "rrf", "lexical", "dense"])
def test_dense_order_stands_when_lexical_finds_nothing(method):
    cands = [_c(5, 0.81, None, 0, None), _c(6, 0.80, None, 1, None), _c(7, 0.6, None, 2, None)]
    assert [i for i, _ in fuse(cands, {"method": method})] == [5, 6, 7]


def test_shared_sentences_are_cut_from_lower_passages():
    from qa.search.retrieve import _without_overlap
    from qa.types import Passage

    body = "Aaaa aaaa. Bbbb bbbb bbbb bbbb. Cccc cccc cccc cccc cccc."
    b_end = body.index("Cccc") - 1  # end of the second sentence
    best = Passage(1, "x", 0, b_end, body[:b_end])
    nxt = Passage(2, "x", 11, len(body), body[11:])
    cut = _without_overlap(nxt, [best])
    assert cut.text == "Cccc cccc cccc cccc cccc." and body[cut.start:cut.end] == cut.text
    assert cut.article_id == "x" and cut.id != nxt.id
    prev = Passage(3, "x", 0, b_end, body[:b_end])
    assert _without_overlap(prev, [Passage(4, "x", 11, len(body), body[11:])]).text == "Aaaa aaaa."
    assert _without_overlap(Passage(5, "x", 11, b_end, body[11:b_end]), [best]) is None  # inside
    assert _without_overlap(nxt, [Passage(6, "y", 0, b_end, body[:b_end])]) is nxt  # other article


def test_a_close_overlapping_neighbour_is_joined():
    from types import SimpleNamespace

    from qa.search.retrieve import _merged
    from qa.types import Passage

    body = "Aaaa aaaa. Bbbb bbbb bbbb bbbb. Cccc cccc cccc cccc cccc."
    b_end = body.index("Cccc") - 1
    first = Passage(1, "x", 0, b_end, body[:b_end])
    stored = {2: Passage(2, "x", 11, len(body), body[11:]),
              3: Passage(3, "y", 0, 10, "Dddd dddd."), 4: Passage(4, "x", 0, 10, body[:10])}
    index = SimpleNamespace(store=SimpleNamespace(passage=stored.get))
    joined = _merged(first, 0.9, [(3, 0.89), (2, 0.85)], 0, index, body, 0.1)
    assert (joined.start, joined.end, joined.text) == (0, len(body), body)
    assert joined.article_id == "x" and joined.id not in (1, 2)
    assert _merged(first, 0.9, [(3, 0.89), (2, 0.85)], 0, index, body, 0.01) is first  # too far
    assert _merged(first, 0.9, [(3, 0.89)], 0, index, body, 0.1) is first  # other article
    assert _merged(first, 0.9, [(4, 0.89)], 0, index, body, 0.1) is first  # inside: nothing new


def test_merge_gap_zero_returns_stored_passages(hash_index):
    for q in ("义乌绿色动力小镇", "马拉松赛道", "美国馆面积"):
        plain = retrieve(q, k=5, index=hash_index, fusion={"merge_gap": 0})
        assert plain[0].passage == hash_index.store.passage(plain[0].passage.id)
        wide = retrieve(q, k=5, index=hash_index, fusion={"merge_gap": 10.0})
        top, p = wide[0].passage, plain[0].passage
        assert top.article_id == p.article_id and top.start <= p.start and p.end <= top.end


def test_no_passage_text_is_returned_twice(hash_index, monkeypatch):
    for q, gap in itertools.product(("义乌绿色动力小镇", "马拉松赛道", "美国馆面积"), (0.0, 0.1, 10.0)):
        hits = retrieve(q, k=10, index=hash_index, fusion={"merge_gap": gap})
        for i, a in enumerate(hits):
            body = a.article.body
            assert body[a.passage.start:a.passage.end] == a.passage.text
            for b in hits[:i]:
                same = a.passage.article_id == b.passage.article_id
                assert not (same and a.passage.start < b.passage.end and b.passage.start < a.passage.end)


def test_duplicate_passages_are_dropped(hash_index, monkeypatch):
    from qa.types import Passage

    real = hash_index.store.passage
    # Make every passage its whole article, so all passages of an article are duplicates.
    monkeypatch.setattr(hash_index.store, "passage",
                        lambda pid: (lambda p: Passage(p.id, p.article_id, 0, 10**6, p.text))(real(pid)))
    for q in ("义乌绿色动力小镇", "马拉松赛道", "葡萄酒"):
        hits = retrieve(q, k=10, index=hash_index)
        assert [h.rank for h in hits] == list(range(1, len(hits) + 1))
        ids = [h.passage.article_id for h in hits]
        assert len(ids) == len(set(ids)) > 1


@pytest.mark.parametrize("question", ['"AND OR NEAR(', "* ^ ) (", "🚀🚀 emoji?", "NOT", "'; DROP TABLE passages; --"])
def test_hostile_questions_do_not_raise(hash_index, question):
    hits = retrieve(question, k=3, index=hash_index)
    assert len(hits) <= 3


def test_k_and_filters_that_match_nothing(hash_index):
    assert retrieve("美国馆", k=0, index=hash_index) == []
    assert retrieve("美国馆", index=hash_index, date="1999-01-01") == []
    assert len(retrieve("美国馆", k=3, index=hash_index)) == 3


def test_passage_recall_on_obvious_items(hash_index):
    items = [("美国馆面积多大", ["950平方米"]), ("马拉松停车位有多少", ["3400个"])]
    got = passage_recall(hash_index, items, ks=(1, 5))
    assert set(got) == {1, 5} and got[5] >= got[1] and got[5] == 1.0


@pytest.mark.slow
@pytest.mark.parametrize(
    "question, headline_part",
    [
        ("义乌绿色动力小镇的规划面积是多少？", "绿色动力小镇"),
        ("义乌农商银行为多少家小微企业发放了帮扶资金？", "三师助企"),
        ("美国馆的面积是多少？", "美国馆"),
        ("葡萄酒评选大赛在哪里举行？", "葡萄酒"),
        ("How many people take part in the Yiwu half marathon?", "半程马拉松"),
        ("What is the area of the American pavilion?", "美国馆"),
        ("Which country was the guest of honour at the import fair?", "进口商品博览会"),
    ],
)
def test_right_article_on_the_sample(sample_index, question, headline_part):
    hits = retrieve(question, k=5, index=sample_index)
    top = hits[0].article
    assert headline_part in top.title + top.body


@pytest.mark.slow
def test_english_question_matches_chinese_text_through_its_dictionary_terms(sample_index):
    hits = retrieve("How long is the new botanical garden section of the half marathon course?", k=5,
                    index=sample_index)
    assert hits and hits[0].lexical is not None  # 植物园, 马拉松 ... matched by FTS
    assert any("4公里" in h.passage.text for h in hits[:2])


@pytest.mark.slow
def test_english_question_about_the_town_area(sample_index):
    # the lexical side asks for 'area' -> 地方 区, which the US pavilion article prints; English
    # questions weigh the dense side 0.8 (Chinese 0.4), and e5 finds the town's article
    hits = retrieve("What is the planned area of the green power town?", k=5, index=sample_index)
    assert "绿色动力小镇" in hits[0].article.title
    assert any("3.32" in h.passage.text for h in hits)


def test_english_questions_weigh_the_dense_side_by_their_own_weight(hash_index):
    from qa.search.retrieve import fusion_settings
    from qa.store.index import DEFAULT_SETTINGS, merge_settings

    zh, en = "美国馆面积多大", "How large is the US pavilion?"
    assert fusion_settings(hash_index, zh)["dense_weight"] == DEFAULT_SETTINGS["fusion"]["dense_weight"]
    assert fusion_settings(hash_index, en)["dense_weight"] == DEFAULT_SETTINGS["fusion"]["dense_weight_en"]
    assert DEFAULT_SETTINGS["fusion"]["dense_weight_en"] != DEFAULT_SETTINGS["fusion"]["dense_weight"]
    assert fusion_settings(hash_index, en, {"dense_weight": 0.1})["dense_weight"] == 0.1  # a benchmark's own
    # the English weight orders English hits as the same dense weight given outright does
    assert retrieve(en, k=5, index=hash_index, fusion={"dense_weight_en": 1.0}) == \
        retrieve(en, k=5, index=hash_index, fusion={"dense_weight": 1.0})
    assert retrieve(zh, k=5, index=hash_index, fusion={"dense_weight_en": 1.0}) == retrieve(zh, k=5, index=hash_index)
    # an index written before the English weight existed reads the default
    assert merge_settings({"fusion": {"dense_weight": 0.4}})["fusion"]["dense_weight_en"] == 0.8


def test_given_query_vector_is_used(hash_index, hash_embedder):
    q = "美国馆面积多大"
    vec = hash_embedder.embed_queries([q])[0]
    a = retrieve(q, k=3, index=hash_index)
    assert retrieve(q, k=3, index=hash_index, query_vector=vec) == a
    other = hash_embedder.embed_queries(["马拉松"])[0]
    assert [h.dense for h in retrieve(q, k=3, index=hash_index, query_vector=other)] != [h.dense for h in a]


@pytest.fixture(scope="module")
def dated_index():
    """The sample page three times: 2020-11-14 p1, 2020-11-15 p2, 2020-12-01 p1 (hash embedder)."""
    from conftest import HashEmbedder

    from qa.paths import EditionFile

    path = sample_editions()[0].path
    files = [EditionFile(path, d, p) for d, p in (("2020-11-14", 1), ("2020-11-15", 2), ("2020-12-01", 1))]
    index = Index.build(files, model=HashEmbedder(), progress=False)
    yield index
    index.close()


@pytest.mark.parametrize("since, until, dates", [
    (None, None, {"2020-11-14", "2020-11-15", "2020-12-01"}),
    ("2020-11-15", None, {"2020-11-15", "2020-12-01"}),
    (None, "2020-11-15", {"2020-11-14", "2020-11-15"}),
    ("2020-11-15", "2020-11-30", {"2020-11-15"}),
    ("2020-11-14", "2020-11-14", {"2020-11-14"}),
])
def test_date_range_restricts_every_hit(dated_index, since, until, dates):
    hits = retrieve("义乌绿色动力小镇的规划面积", k=30, index=dated_index, since=since, until=until)
    assert {h.article.date for h in hits} == dates


def test_date_range_restricts_both_candidate_lists(dated_index):
    from qa.search.retrieve import candidates

    in_range = set(dated_index.store.passage_ids(since="2020-11-15", until="2020-11-30"))
    assert in_range and in_range == set(dated_index.store.passage_ids(date="2020-11-15"))
    # depth covers every passage: unfiltered, the lexical and dense lists reach other dates
    everything = candidates(dated_index, "美国馆的面积", depth=200)
    assert {c.id for c in everything} - in_range
    cands = candidates(dated_index, "美国馆的面积", depth=200, since="2020-11-15", until="2020-11-30")
    assert {c.id for c in cands} <= in_range
    assert any(c.dense_rank is not None for c in cands) and any(c.lexical_rank is not None for c in cands)
    lexical = dated_index.store.search("美国馆的面积", limit=200, since="2020-11-15", until="2020-11-30")
    assert lexical and {pid for pid, _ in lexical} <= in_range
    assert retrieve("美国馆", index=dated_index, since="2021-01-01") == []


@pytest.mark.parametrize("since, until, message", [
    ("2020-13-01", None, "since must be a date"),
    (None, "yesterday", "until must be a date"),
    ("2020-12-01", "2020-11-01", "the date range is empty"),
])
def test_bad_date_range_is_refused(dated_index, since, until, message):
    from qa.errors import InputError

    with pytest.raises(InputError, match=message):
        retrieve("美国馆", index=dated_index, since=since, until=until)
