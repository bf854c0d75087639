"""Metric functions against hand-computed numbers."""

from __future__ import annotations

import math

import pytest

from qa.evaluation.metrics import (
    METRIC_NAMES,
    Outcome,
    answer_f1,
    compute_metrics,
    contains_gold,
    exact_match,
    first_rank,
    hit_at,
    mixed_segments,
    mrr,
    percentile,
)


def test_gold_matching_ignores_whitespace_and_width():
    assert contains_gold("规划面积 3.32 平方公里。", ["3.32平方公里"])
    assert contains_gold("在梅湖体育场\n激情开跑", ["梅湖体育场"])
    assert contains_gold("ＡＲ指挥系统", ["AR指挥系统"])  # full-width Latin folds under NFKC
    assert not contains_gold("规划面积 3.32 平方公里", ["4公里"])
    assert not contains_gold("anything", [""])  # an empty gold never matches


def test_first_rank_is_one_based():
    texts = ["无关", "也无关", "穿行4公里", "4 公里"]
    assert first_rank(texts, ["4公里"]) == 3
    assert first_rank(texts, ["5公里"]) is None
    assert first_rank([], ["4公里"]) is None


def test_mixed_segments_split_cjk_chars_and_words_and_drop_the_script_punctuation():
    assert mixed_segments("范廷颂于1963年，Hello World") == ["范", "廷", "颂", "于", "1963", "年", "hello", "world"]
    assert mixed_segments("“医共体建设”、3.32 km") == [
        "医", "共", "体", "建", "设", "3.32", "km"]
    assert mixed_segments("《三体》-- 刘慈欣") == ["三", "体", "刘", "慈", "欣"]


def test_exact_match_is_the_cmrc_one():
    assert exact_match("“医共体建设”", ["医共体建设"]) == 1.0  # “” are in the script's list
    assert exact_match(" Bob ", ["bob"]) == 1.0  # lower-cased and stripped
    assert exact_match("4 公里", ["4公里"]) == 0.0  # an inner space stays, as in the script
    assert exact_match("约4公里", ["4公里"]) == 0.0
    assert exact_match("", ["4公里"]) == 0.0
    assert exact_match("4公里", ["5公里", "4公里"]) == 1.0


def test_answer_f1_uses_the_longest_common_substring_of_segments():
    # "约3400个" -> [约, 3400, 个] vs [3400, 个]: LCS 2, P = 2/3, R = 1, F1 = 0.8.
    assert answer_f1("约3400个", ["3400个"]) == pytest.approx(0.8)
    # Not a bag of characters: [王, 健] vs [骆, 小, 俊, 王, 健] has LCS 2: P = 1, R = 2/5 -> 4/7.
    assert answer_f1("王健", ["骆小俊", "王健、骆小俊"]) == pytest.approx(4 / 7)
    # Order matters: [健, 王] vs [王, 健]: the longest common run is 1 segment: P = R = 1/2.
    assert answer_f1("健王", ["王健"]) == pytest.approx(0.5)
    # A run of Latin letters is one segment: "aab" and "ab" share none.
    assert answer_f1("aab", ["ab"]) == 0.0
    assert answer_f1("王健", ["王健"]) == 1.0
    assert answer_f1("", ["王健"]) == 0.0
    assert answer_f1("张三", ["王健"]) == 0.0


def test_hit_at_and_mrr():
    ranks = [1, 2, None, 6]
    assert hit_at(ranks, 1) == 0.25
    assert hit_at(ranks, 5) == 0.5
    assert mrr([1, 2, None, 4], 3) == pytest.approx((1 + 0.5) / 4)
    assert mrr([1, 2, None, 4], 10) == pytest.approx((1 + 0.5 + 0.25) / 4)
    assert math.isnan(hit_at([], 1)) and math.isnan(mrr([]))


def test_percentile_interpolates():
    assert percentile([40, 10, 30, 20], 50) == 25.0
    assert percentile([10, 20, 30, 40], 95) == pytest.approx(38.5)  # pos 2.85
    assert percentile([7.0], 95) == 7.0
    assert math.isnan(percentile([], 50))


def test_compute_metrics_hand_example():
    outcomes = [
        Outcome(True, 1, 1, 1, 1.0, 1.0, False, 10.0),
        Outcome(True, 1, 3, 2, 0.0, 0.5, False, 20.0),
        Outcome(True, 2, None, None, 0.0, 0.0, True, 30.0),
        Outcome(True, None, None, None, 0.0, 0.0, False, 40.0),
        Outcome(False, no_answer=True, latency_ms=50.0),
        Outcome(False, no_answer=False, latency_ms=60.0),
    ]
    m = compute_metrics(outcomes)
    assert list(m) == list(METRIC_NAMES)
    assert m["article_hit@1"] == 0.5
    assert m["article_hit@5"] == 0.75
    assert m["passage_hit@1"] == 0.25
    assert m["passage_hit@5"] == 0.5
    assert m["mrr@10"] == pytest.approx((1 + 1 / 3) / 4)
    assert m["extract_hit@1"] == 0.25
    assert m["extract_hit@3"] == 0.5
    assert m["short_answer_exact"] == 0.25
    assert m["short_answer_f1"] == pytest.approx(1.5 / 4)
    assert m["no_answer_accuracy"] == 0.5
    assert m["false_no_answer_rate"] == 0.25
    assert m["latency_ms_p50"] == 35.0
    assert m["latency_ms_p95"] == pytest.approx(57.5)  # pos 4.75 between 50 and 60


def test_compute_metrics_without_unanswerable_questions_is_nan_not_zero():
    m = compute_metrics([Outcome(True, 1, 1, 1, 1.0, 1.0, False, 5.0)])
    assert math.isnan(m["no_answer_accuracy"])
    assert m["false_no_answer_rate"] == 0.0
