"""The reader: tokens and windows with offsets, span decoding, loading, and reading for real."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from qa.errors import ModelError
from qa.models.encoder import CLS, SEP
from qa.models.reader import Reader, Window, answer_tokens, reader_available, reading_form
from qa.models.spans import Reading, Span, best_spans, trim_span


def test_best_spans_respect_order_length_and_bounds():
    start = np.array([9.0, 1.0, 5.0, 0.0, 4.0, 0.0])
    end = np.array([9.0, 0.0, 1.0, 6.0, 0.0, 2.0])
    # positions 0 (<s>) and 1 are outside [2, 6): the best pair inside is (2, 3) = 5 + 6
    got = best_spans(start, end, 2, 6, top=3)
    assert got[0] == (11.0, 2, 3)
    assert all(2 <= i <= j < 6 for _, i, j in got)
    # an end before its start never counts: (4, 3) would score 10 but is not a span
    assert (10.0, 4, 3) not in got
    # max_len 1: single tokens only
    assert best_spans(start, end, 2, 6, top=1, max_len=1) == [(6.0, 2, 2)]
    assert best_spans(start, end, 3, 3) == []


def test_brute_force_agrees_with_best_spans():
    rng = np.random.default_rng(3)
    start, end = rng.normal(size=40), rng.normal(size=40)
    got = best_spans(start, end, 5, 35, top=5, max_len=8)
    pairs = sorted(((start[i] + end[j], i, j) for i in range(5, 35) for j in range(i, min(i + 8, 35))),
                   reverse=True)[:5]
    assert [(i, j) for _, i, j in got] == [(i, j) for _, i, j in pairs]
    assert [s for s, _, _ in got] == pytest.approx([s for s, _, _ in pairs])


def test_answer_tokens_maps_chars_to_token_positions():
    w = Window(ids=[CLS, 7, SEP, 11, 12, 13, SEP], passage=0, first=3, offsets=[(0, 2), (2, 5), (5, 6)])
    assert answer_tokens(w, 2, 5) == (4, 4)
    assert answer_tokens(w, 0, 6) == (3, 5)
    assert answer_tokens(w, 3, 5) == (4, 4)  # starts inside a token: the token that covers it
    assert answer_tokens(w, 5, 9) is None  # runs past the window
    later = Window(ids=[CLS, 7, SEP, 12, 13, SEP], passage=0, first=3, offsets=[(2, 5), (5, 6)])
    assert answer_tokens(later, 0, 5) is None  # begins before the window


def test_trim_span_drops_edge_punctuation_but_keeps_pairs():
    text = "，规划面积 3.32 平方公里。"
    assert text[slice(*trim_span(text, 0, len(text)))] == "规划面积 3.32 平方公里"
    text = "《三体》（刘慈欣）"
    assert text[slice(*trim_span(text, 0, len(text)))] == "《三体》（刘慈欣）"
    text = "（刘慈欣"
    assert text[slice(*trim_span(text, 0, len(text)))] == "刘慈欣"


def test_missing_or_damaged_reader_is_a_clear_error(tmp_path):
    assert not reader_available(tmp_path)
    with pytest.raises(ModelError, match="no trained reader"):
        Reader(tmp_path)
    (tmp_path / "reader.json").write_text(json.dumps({"first_trained": 6}), encoding="utf-8")
    (tmp_path / "reader.safetensors").write_bytes(b"\x00" * 40)
    with pytest.raises(ModelError, match="damaged"):
        Reader(tmp_path)


def test_the_shipped_reader_is_present():
    assert reader_available()


# ----------------------------------------------------------------------------- the real model


@pytest.fixture(scope="module")
def reader():
    from qa.models.reader import get_reader

    return get_reader()


def test_reading_form_drops_ocr_spaces_next_to_cjk_and_maps_back():
    text = "秘 书 长 许 竣 哲说：TOP50 全球精品，\n 11 月 13 日上午， Bob  Smith 到场"
    form, offsets = reading_form(text)
    assert form == "秘书长许竣哲说：TOP50全球精品，11月13日上午，Bob Smith到场"
    assert len(offsets) == len(form)
    assert all(text[o] == c for c, o in zip(form, offsets) if c != " ")
    assert offsets == sorted(offsets)
    assert reading_form("") == ("", []) and reading_form("  \n ") == ("", [])


@pytest.mark.slow
def test_spans_read_in_spaced_out_ocr_text_are_spans_of_the_printed_text(reader):
    passage = "上海酒消费信息中 心 秘 书 长 许 竣 哲说：“此次参加义乌进口博览会是吹响 Vinbywine 葡萄酒成长计划的第一站。”"
    (r,) = reader.read("上海酒消费信息中心的秘书长叫什么名字？", [passage])
    best = r.spans[0]
    assert best.text == "许 竣 哲" and passage[best.start:best.end] == best.text
    assert r.margin > 0


@pytest.mark.slow
def test_windows_keep_offsets_into_the_passage(reader):
    passage = "义乌绿色动力小镇位于赤岸镇与佛堂镇交界处，规划面积 3.32 平方公里。"
    (w,) = reader.tokens.windows("规划面积是多少？", [passage])
    assert w.ids[0] == CLS and w.ids[-1] == SEP and w.ids[w.first - 1] == SEP
    assert len(w.offsets) == len(w.ids) - w.first - 1
    joined = "".join(passage[a:b] for a, b in w.offsets).replace(" ", "")
    assert joined == passage.replace(" ", "")


@pytest.mark.slow
def test_long_passages_are_read_in_overlapping_windows(reader):
    passage = "前面的句子没有答案。" * 60 + "规划面积 3.32 平方公里。" + "后面的句子也没有答案。" * 60
    windows = reader.tokens.windows("规划面积是多少？", [passage], max_tokens=128)
    assert len(windows) > 3 and all(len(w.ids) <= 128 for w in windows)
    a = passage.index("3.32")
    assert any(answer_tokens(w, a, a + len("3.32 平方公里")) for w in windows)
    (reading,) = reader.read("规划面积是多少？", [passage])
    assert "3.32" in reading.spans[0].text


@pytest.mark.slow
def test_reader_finds_the_span_and_prefers_the_passage_that_holds_it(reader):
    passages = ["本届赛事分为半程马拉松、迷你健身跑和亲子健身跑三大项目，共有近10000人参与。",
                "参赛选手将从西城北路进入义乌植物园，在这座“城市绿肺”中穿行4公里。"]
    readings = reader.read("植物园赛道有多长？", passages)
    assert readings[1].spans[0].text == "4公里"
    assert readings[1].margin > readings[0].margin
    for r in readings:
        for s in r.spans:
            assert passages[r.passage][s.start:s.end] == s.text
    # fp32 and bf16 agree on the answer
    fp32 = Reader(precision="fp32").read("植物园赛道有多长？", passages)
    assert fp32[1].spans[0].text == "4公里"


@pytest.mark.slow
def test_a_first_passage_read_alone_reads_as_in_the_batch_and_decides_what_else_is_read(reader):
    # in fp32, as on CPUs without native bf16
    reader = Reader(precision="fp32")
    passages = ["义乌绿色动力小镇位于赤岸镇与佛堂镇交界处，规划面积 3.32 平方公里。",
                "本届赛事分为半程马拉松、迷你健身跑和亲子健身跑三大项目，共有近10000人参与。",
                "美国馆建设于 2020 年 8 月竣工，面积950平方米。"]
    question = "义乌绿色动力小镇的规划面积是多少？"
    batch = reader.read(question, passages)
    best = batch[0].spans[0]
    assert "3.32" in best.text and all(r.read for r in batch)
    # sure of the first passage: the others are left unread, the first reads as in the batch
    alone = reader.read(question, passages, first_alone=best.rank - 1.0)
    assert [r.read for r in alone] == [True, False, False]
    assert [r.spans for r in alone[1:]] == [(), ()] and all(r.best is None for r in alone[1:])
    assert alone[0].spans[0].text == best.text
    assert alone[0].spans[0].margin == pytest.approx(best.margin, abs=1e-3)
    # not sure enough: every passage is read, as in one batch
    unsure = reader.read(question, passages, first_alone=best.rank + 1.0)
    assert all(r.read for r in unsure)
    assert [[s.text for s in r.spans] for r in unsure] == [[s.text for s in r.spans] for r in batch]
    # one passage: nothing to leave unread
    (single,) = reader.read(question, passages[:1], first_alone=-100.0)
    assert single.read and single.spans[0].text == best.text
    # a bf16 reader reads every passage at once
    reader.bf16 = True
    assert all(r.read for r in reader.read(question, passages, first_alone=-100.0))


@pytest.mark.slow
def test_noise_gets_no_span_above_the_no_answer_score(reader):
    passages = ["本届赛事分为半程马拉松、迷你健身跑和亲子健身跑三大项目，共有近10000人参与。"]
    for noise in ("%s%s%n", "{{7*7}}", "🙂🙂🙂?", "a" * 5000):
        (r,) = reader.read(noise, passages)
        assert r.margin < 0, noise


def test_span_rank_is_the_margin_less_the_length_prior():
    short, long = Span(0, 0, 2, "4公", 5.0, 2.0, 0.7), Span(0, 0, 8, "穿行4公里的赛道", 5.5, 2.5, 2.1)
    assert short.rank == pytest.approx(1.3) and long.rank == pytest.approx(0.4)
    assert Reading(0, 0.0, (short, long)).margin == 2.5  # the best margin, not the best rank
    assert Reading(0, 0.0, (short,), best=2.5).margin == 2.5  # also when that span was not kept


@pytest.mark.slow
def test_the_length_prior_shortens_spans_but_leaves_the_margin(reader):
    passage = "2015年5月，小镇招引了第一个产业项目——总投资20.65亿元的吉利集团锋锐发动机项目。"
    plain = reader.read("小镇招来的第一个产业项目是哪个？", [passage], length_prior=0.0)[0]
    strong = reader.read("小镇招来的第一个产业项目是哪个？", [passage], length_prior=5.0)[0]
    assert strong.margin == pytest.approx(plain.margin)
    assert all(s.prior == 0.0 for s in plain.spans)
    assert [s.rank for s in strong.spans] == sorted((s.rank for s in strong.spans), reverse=True)
    assert len(strong.spans[0].text) <= len(plain.spans[0].text)
    for s in strong.spans:
        assert s.prior == pytest.approx(5.0 * math.log(len(s.text)))


def test_packed_weights_come_back_fp16_or_within_half_an_int8_step():
    import torch

    from qa.models.weights import member_weights, pack_weights, unpack_weights

    g = torch.Generator().manual_seed(0)
    weights = {"blocks.6.q.weight": torch.randn(8, 5, generator=g), "blocks.6.q.bias": torch.randn(8, generator=g)}
    weights["blocks.6.q.weight"][3] = 0.0  # an all-zero row must not divide by zero
    half = unpack_weights(pack_weights(weights))
    assert all(torch.equal(half[n], weights[n].half().float()) for n in weights)
    stored = pack_weights(weights, bits=8)
    assert stored["blocks.6.q.weight:int8"].dtype == torch.int8 and "blocks.6.q.bias" in stored
    back = unpack_weights(stored)
    w = weights["blocks.6.q.weight"]
    step = w.abs().amax(dim=1, keepdim=True) / 127
    assert bool(((back["blocks.6.q.weight"] - w).abs() <= step / 2 + 1e-3 * step + 1e-8).all())
    assert bool((back["blocks.6.q.weight"][3] == 0).all())
    # two members under member0. / member1.; anything else is refused
    both = {**{f"member0.{k}": v for k, v in stored.items()}, **{f"member1.{k}": v for k, v in stored.items()}}
    first, second = member_weights(both, 2)
    assert set(first) == set(second) == set(weights)
    with pytest.raises(ValueError, match="unexpected weight"):
        member_weights({**both, "member2.span.bias": weights["blocks.6.q.bias"]}, 2)
    with pytest.raises(ValueError, match="no scale"):
        unpack_weights({"x:int8": stored["blocks.6.q.weight:int8"]})


def test_int4_packing_keeps_each_weight_within_half_a_step_of_its_group():
    import torch

    from qa.models.weights import GROUP, INT4_MIN, pack_weights, unpack_weights

    g = torch.Generator().manual_seed(1)
    cols = INT4_MIN // 8
    w = torch.randn(8, cols, generator=g)
    w[2, GROUP:2 * GROUP] = 0.0  # an all-zero group
    w[4, :GROUP] *= 100  # one loud group must not coarsen the row's other groups
    weights = {"blocks.6.fc1.weight": w, "blocks.6.fc1.bias": torch.randn(8, generator=g),
               "span.weight": torch.randn(2, 64, generator=g),  # small: int8
               "blocks.6.odd.weight": torch.randn(INT4_MIN // 10, 10, generator=g)}  # rows not whole groups: int8
    stored = pack_weights(weights, bits=4)
    packed = stored["blocks.6.fc1.weight:int4"]
    assert packed.dtype == torch.uint8 and packed.shape == (8, cols // 2)
    assert stored["blocks.6.fc1.weight:scale"].shape == (8, cols // GROUP)
    assert "span.weight:int8" in stored and "blocks.6.odd.weight:int8" in stored and "blocks.6.fc1.bias" in stored
    back = unpack_weights(stored)["blocks.6.fc1.weight"]
    step = (w.reshape(8, -1, GROUP).abs().amax(dim=2, keepdim=True) / 7).repeat_interleave(GROUP, dim=2).reshape(8, -1)
    assert bool(((back - w).abs() <= step / 2 + 2e-3 * step + 1e-8).all())
    assert bool((back[2, GROUP:2 * GROUP] == 0).all())
    assert float((back[4, GROUP:] - w[4, GROUP:]).abs().max()) < 1.0  # a step per row would be ~30
    # the sign and both nibbles survive: rows of -7..7 steps come back exactly
    ramp = (torch.arange(INT4_MIN) % 15 - 7).float().reshape(2, -1, GROUP) * 0.5
    ramp[:, :, 0] = 3.5  # every group's largest |w|: a scale of exactly 0.5
    ramp = ramp.reshape(2, -1)
    assert torch.equal(unpack_weights(pack_weights({"r": ramp}, bits=4))["r"], ramp)
    with pytest.raises(ValueError, match="does not fit"):
        unpack_weights({"x:int4": packed, "x:scale": stored["blocks.6.fc1.weight:scale"][:, :2]})
    with pytest.raises(ValueError, match="bits"):
        pack_weights(weights, bits=2)


def test_a_member_alone_computes_what_the_encoders_upper_blocks_do():
    import torch

    from qa.models.encoder import new_encoder, new_upper, pad_batch

    config = {"vocab_size": 40, "hidden_size": 16, "max_position_embeddings": 32, "type_vocab_size": 1,
              "layer_norm_eps": 1e-12, "num_hidden_layers": 4, "num_attention_heads": 2, "intermediate_size": 24,
              "hidden_dropout_prob": 0.0}
    torch.manual_seed(1)
    encoder, member = new_encoder(config).eval(), new_upper(config, 2).eval()
    own = dict(encoder.named_parameters())
    names = [n for n, _ in member.named_parameters()]
    assert names and all(n.startswith(("blocks.2.", "blocks.3.", "span.")) for n in names)
    with torch.no_grad():
        for name, p in member.named_parameters():
            p.copy_(own[name])
    ids, mask, cand = pad_batch([[CLS, 5, 6, SEP, 7, 8, 9, SEP], [CLS, 5, SEP, 7, SEP]], [4, 3])
    with torch.no_grad():
        x = encoder.lower(ids, mask, 2)
        for a, b in zip(encoder.upper(x, mask, 2, cand), member(x, mask, cand)):
            assert torch.allclose(a, b, atol=1e-6)


@pytest.mark.slow
def test_int8_reader_reads_the_same_span():
    passages = ["参赛选手将从西城北路进入义乌植物园，在这座“城市绿肺”中穿行4公里。"]
    fp32 = Reader(precision="fp32").read("选手在义乌植物园中穿行多长距离？", passages)
    int8 = Reader(precision="int8").read("选手在义乌植物园中穿行多长距离？", passages)
    assert int8[0].spans[0].text == fp32[0].spans[0].text == "4公里"
    assert abs(int8[0].spans[0].margin - fp32[0].spans[0].margin) < 2.0


@pytest.mark.slow
def test_the_word_table_is_e5s_own_read_from_its_file(reader):
    import torch
    from safetensors import safe_open

    from qa.models.e5pack import materialize_e5

    weight = reader.encoder.word.weight
    assert weight.dtype == torch.float32 and not weight.requires_grad
    with safe_open(str(materialize_e5() / "model.safetensors"), "pt") as f:
        table = f.get_tensor("embeddings.word_embeddings.weight")
    assert torch.equal(weight[[0, 6, 2, 12345]], table[[0, 6, 2, 12345]])


@pytest.mark.slow
def test_reader_and_embedder_share_one_tokenizer_and_neither_truncates(reader, embedder):
    # one copy of the 250k-piece tokenizer (about 280 MB) for the process
    assert reader.tokens._tok is embedder._fast
    # plain sentence-transformers use sets truncation on it; the reader still reads whole passages
    embedder._st.encode(["a call that leaves truncation set on the shared tokenizer"])
    long = "义乌绿色动力小镇规划面积3.32平方公里。" * 60
    (ids, offsets), = reader.tokens.encode([long])
    assert len(ids) > 600 and offsets[-1][1] == len(long)
