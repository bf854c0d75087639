"""Second-stage re-ranking: coverage features by hand, the listwise fit, its use in retrieve."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from qa.paths import sample_editions
from qa.search.rerank import FEATURES, WEIGHTS, cross_validate, features, fit, scores
from qa.search.retrieve import (
    RERANK_DEPTH,
    Candidate,
    candidates,
    fuse,
    rerank,
    rerank_lists,
    retrieve,
)
from qa.store.index import Index
from qa.types import Passage


def _cand(pid: int) -> Candidate:
    return Candidate(pid, 0.8, 1.0, 0, 0)


def test_coverage_by_hand():
    # Question terms (Han bigrams): 小镇 镇面 面积. "小镇" is in the title of article a.
    passages = {
        1: Passage(1, "a", 0, 12, "面积很大。小镇很美。"),
        2: Passage(2, "b", 0, 6, "今天下雨。"),
    }
    titles = {"a": "小镇", "b": "天气"}
    x = features("小镇面积", [_cand(1), _cand(2)], {1: 0.5, 2: 0.9}, passages, titles)
    assert x.shape == (2, len(FEATURES))
    assert list(x[:, 0]) == [0.5, 0.9]
    # Three distinct sentences; 小镇 in one, 面积 in one, 镇面 in none.
    w_one, w_none = math.log(1 + 3 / 2), math.log(1 + 3 / 1)
    total = 2 * w_one + w_none
    assert x[0, 1] == pytest.approx(2 * w_one / total)  # 面积 in the text, 小镇 in the title
    assert x[0, 2] == pytest.approx(2 * w_one / total)  # title terms count in each sentence
    assert x[1, 1] == 0.0 and x[1, 2] == 0.0


def test_an_english_term_is_covered_once_by_any_of_its_candidates():
    # "area" has several Chinese candidates (面积, 地区, ...): a passage printing two of them
    # covers one term, not two, and the English word itself counts as printed.
    passages = {
        1: Passage(1, "a", 0, 20, "小镇规划面积很大，地区偏远。"),
        2: Passage(2, "b", 0, 20, "马拉松在义乌举行。"),
        3: Passage(3, "c", 0, 20, "The marathon area."),
    }
    titles = {"a": "", "b": "", "c": ""}
    x = features("How large is the marathon area?", [_cand(1), _cand(2), _cand(3)],
                 {1: 0.5, 2: 0.5, 3: 0.5}, passages, titles)
    # Two content terms (marathon, area), each held by one Chinese sentence and the English one.
    assert x[0, 1] == pytest.approx(0.5) and x[1, 1] == pytest.approx(0.5)
    assert x[2, 1] == pytest.approx(1.0) and x[2, 2] == pytest.approx(1.0)


def test_a_brief_is_covered_by_its_title():
    passages = {1: Passage(1, "brief", 0, 0, "")}
    x = features("少儿春晚", [_cand(1)], {1: 0.7}, passages, {"brief": "少儿春晚报名"})
    assert x[0, 1] == pytest.approx(1.0) and x[0, 2] == pytest.approx(1.0)


def test_no_terms_leaves_only_the_fused_score():
    passages = {1: Passage(1, "a", 0, 4, "文本。")}
    x = features("what is it?", [_cand(1)], {1: 0.3}, passages, {"a": ""})
    assert list(x[0]) == [0.3, 0.0, 0.0]


def test_scores_are_linear_in_the_weights():
    x = np.array([[1.0, 0.5, 0.25], [0.0, 1.0, 1.0]])
    assert list(scores(x, {"fused": 2.0, "coverage": 1.0})) == [2.5, 1.0]
    assert scores(x).tolist() == pytest.approx(
        [1.0 + WEIGHTS["coverage"] * 0.5 + WEIGHTS["sentence_coverage"] * 0.25,
         WEIGHTS["coverage"] + WEIGHTS["sentence_coverage"]])


def _synthetic(n: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Lists where the gold passage has a noisy fused score but the highest coverage."""
    rng = np.random.default_rng(seed)
    lists = []
    for _ in range(n):
        x = rng.uniform(0, 1, size=(8, 3))
        y = np.zeros(8)
        gold = int(rng.integers(8))
        x[gold, 1] = x[:, 1].max() + 0.3
        x[gold, 0] = min(x[gold, 0] + 0.2, 1.0)  # the first stage helps a little
        y[gold] = 1.0
        lists.append((x, y))
    return lists


def test_fit_learns_the_feature_that_finds_the_gold():
    lists = _synthetic(300, 0)
    w = fit(lists, steps=800)
    assert w["fused"] == 1.0  # scaled to the fused weight
    assert w["coverage"] > 1.0 and abs(w["sentence_coverage"]) < w["coverage"]
    report = cross_validate(lists, folds=3)
    assert report["fused_r1"] < 0.5 and report["cv_r1"] > 0.9
    assert 0.0 <= report["cv_r1"] <= report["cv_r5"] <= 1.0


def test_fit_refuses_lists_without_a_choice():
    with pytest.raises(ValueError):
        fit([(np.zeros((2, 3)), np.ones(2)), (np.zeros((2, 3)), np.zeros(2))])


@pytest.fixture(scope="module")
def hash_index():
    from conftest import HashEmbedder

    return Index.build(sample_editions(), model=HashEmbedder(), progress=False)


def test_rerank_reorders_only_the_top_and_keeps_scores_descending(hash_index):
    q = "义乌绿色动力小镇的规划面积是多少"
    cands = candidates(hash_index, q, depth=50)
    ranked = fuse(cands, hash_index.settings["fusion"])
    got = rerank(hash_index, q, cands, ranked, hash_index.settings["fusion"])
    assert len(got) == len(ranked)
    assert {pid for pid, _ in got[:RERANK_DEPTH]} == {pid for pid, _ in ranked[:RERANK_DEPTH]}
    assert [pid for pid, _ in got[RERANK_DEPTH:]] == [pid for pid, _ in ranked[RERANK_DEPTH:]]
    values = [s for _, s in got]
    assert values == sorted(values, reverse=True)
    fused = dict(ranked)
    assert all(s >= fused[pid] for pid, s in got[:RERANK_DEPTH])  # a bonus, never a penalty


def test_rerank_can_be_switched_off(hash_index):
    q = "马拉松赛道经过哪些地方"
    on = retrieve(q, k=5, index=hash_index)
    off = retrieve(q, k=5, index=hash_index, fusion={"rerank": False})
    assert [h.score for h in off] == sorted((h.score for h in off), reverse=True)
    assert {h.article.id for h in on} & {h.article.id for h in off}
    # Weights that ignore coverage give back the first-stage order.
    plain = retrieve(q, k=5, index=hash_index, fusion={"rerank_weights": {"fused": 1.0}})
    assert [h.passage.id for h in plain] == [h.passage.id for h in off]


def test_the_passage_covering_the_rare_term_wins():
    # Two passages of one article: both name the topic, only one the asked-for detail.
    cands = [Candidate(1, 0.80, 5.0, 0, 0), Candidate(2, 0.79, 4.8, 1, 1), Candidate(3, 0.70, None, 2, None)]
    passages = {1: Passage(1, "a", 0, 20, "绿色动力小镇位于义乌。小镇很美。"),
                2: Passage(2, "a", 10, 40, "小镇很美。规划面积3.32平方公里。"),
                3: Passage(3, "b", 0, 5, "今天下雨。")}
    store = SimpleNamespace(passages=lambda ids: [passages[i] for i in ids],
                            article=lambda aid: SimpleNamespace(kicker="", title="绿色动力小镇"))
    index = SimpleNamespace(store=store)
    settings = {"method": "weighted", "dense_weight": 0.4}
    ranked = fuse(cands, settings)
    assert ranked[0][0] == 1
    assert rerank(index, "绿色动力小镇的规划面积", cands, ranked, settings)[0][0] == 2


def test_without_lexical_matches_the_dense_order_stays():
    cands = [Candidate(1, 0.80, None, 0, None), Candidate(2, 0.79, None, 1, None)]
    ranked = fuse(cands, {"method": "weighted"})
    assert rerank(SimpleNamespace(), "what is it", cands, ranked, {}) == ranked


def test_rerank_lists_label_the_passages_holding_the_answer(hash_index):
    lists = rerank_lists(hash_index, [("美国馆面积多大", ["950平方米"]), ("马拉松停车位有多少", ["3400个"])])
    assert len(lists) == 2
    for x, y in lists:
        assert x.shape == (len(y), len(FEATURES)) and 0 < len(y) <= RERANK_DEPTH
        assert y.sum() >= 1

