"""The reader's int8 form: smoothing is exact before rounding, fc2 stays fp32, scales round-trip,
and int8 answers the bundled questions as fp32 does."""

from __future__ import annotations

import json

import pytest
import torch

from qa.errors import ModelError
from qa.models.encoder import new_upper
from qa.models.quantize import SCALES_FILE, int8_linears, read_maxima, smoothed, write_maxima

CONFIG = {"hidden_size": 32, "num_attention_heads": 4, "intermediate_size": 64,
          "num_hidden_layers": 2, "layer_norm_eps": 1e-5}


def test_smoothing_leaves_the_product_unchanged_before_rounding() -> None:
    g = torch.Generator().manual_seed(0)
    linear = torch.nn.Linear(16, 8)
    x = torch.randn(5, 16, generator=g)
    x[:, 3] *= 60.0  # an outlier channel, as e5's hidden states have
    maximum = x.abs().amax(0)
    same = smoothed(linear, maximum, quantize=False)
    assert torch.allclose(same(x), linear(x), atol=1e-4)
    # quantized, the smoothed layer stays close where the plain per-tensor one does not
    q = smoothed(linear, maximum)
    assert (q(x) - linear(x)).abs().max() < 0.05 * linear(x).abs().max()


def test_int8_linears_keep_fc2_and_smooth_what_has_maxima() -> None:
    upper = new_upper(CONFIG, 1).eval()
    maxima = {f"member0.blocks.1.{n}": torch.ones(32) for n in ("q", "k", "v", "o")}
    maxima["member0.blocks.1.fc1"] = torch.ones(32)
    x = torch.randn(2, 6, 32)
    mask = torch.ones(2, 6, dtype=torch.long)
    cand = torch.ones(2, 6, dtype=torch.bool)
    with torch.no_grad():
        before = upper(x, mask, cand)
        quantized = int8_linears(upper, maxima, "member0")
        after = quantized(x, mask, cand)
    kinds = {name: type(m).__name__ for name, m in quantized.named_modules()
             if name.count(".") == 2 and name.split(".")[-1] in ("q", "k", "v", "o", "fc1", "fc2")}
    assert kinds["blocks.1.fc2"] == "Linear" and type(quantized.blocks["1"].fc2).__module__.startswith("torch.nn")
    assert all(kinds[f"blocks.1.{n}"] == "Smoothed" for n in ("q", "k", "v", "o", "fc1"))
    assert torch.allclose(before[0], after[0], atol=0.1)


def test_maxima_round_trip_and_a_damaged_file_is_refused(tmp_path) -> None:
    assert read_maxima(tmp_path) is None
    maxima = {"lower.blocks.0.q": torch.tensor([1.0, 2.5, 300.0])}
    write_maxima(tmp_path, maxima)
    back = read_maxima(tmp_path)
    assert torch.allclose(back["lower.blocks.0.q"], maxima["lower.blocks.0.q"], rtol=1e-3)
    (tmp_path / SCALES_FILE).write_bytes(b"not a safetensors file")
    with pytest.raises(ModelError, match="damaged"):
        read_maxima(tmp_path)


def test_the_shipped_reader_has_its_int8_scales() -> None:
    from qa.models.reader import READER_DIR

    maxima = read_maxima(READER_DIR)
    assert maxima is not None and len(maxima) == 144  # 6 lower blocks + 3 members x 6, 6 layers each


@pytest.mark.slow
def test_auto_precision_is_bf16_where_native_else_fp32_and_int8_when_asked(monkeypatch) -> None:
    import qa.models.embed as embed
    from qa.models.reader import Reader

    monkeypatch.setattr(embed, "bf16_supported", lambda: False)
    assert Reader(precision="auto").precision == "fp32"
    assert Reader(precision="int8").precision == "int8"
    monkeypatch.setattr(embed, "bf16_supported", lambda: True)
    assert Reader(precision="auto").precision == "bf16"


@pytest.mark.slow
def test_int8_answers_the_bundled_questions_as_fp32_does(sample_index) -> None:
    """The tolerance of docs/operations.md: the same short answer for at least 90% of the bundled
    questions, and exact match over the answerable Chinese ones within 0.05 of fp32."""
    from qa.answers.ask import ask
    from qa.evaluation.metrics import exact_match
    from qa.models.reader import Reader
    from qa.paths import sample_questions

    rows = [json.loads(line) for line in sample_questions().read_text(encoding="utf-8").splitlines()]
    rows = [r for r in rows if not r.get("turns")]
    readers = {p: Reader(precision=p) for p in ("fp32", "int8")}
    answers = {p: [ask(r["question"], index=sample_index, reader=rd).short_answer for r in rows]
               for p, rd in readers.items()}
    same = sum(a == b for a, b in zip(answers["fp32"], answers["int8"])) / len(rows)
    assert same >= 0.9, same
    zh = [i for i, r in enumerate(rows) if r["lang"] == "zh" and r.get("answerable", True)]
    exact = {p: sum(exact_match(answers[p][i], rows[i]["answers"]) for i in zh) / len(zh) for p in answers}
    assert abs(exact["int8"] - exact["fp32"]) <= 0.05, exact


def test_a_wrong_reader_precision_in_the_environment_is_refused(monkeypatch, tmp_path) -> None:
    from qa.models.reader import get_reader

    monkeypatch.setenv("EDITION_QA_READER_PRECISION", "int4")
    with pytest.raises(ModelError, match="EDITION_QA_READER_PRECISION"):
        get_reader(tmp_path)


def _squad(tmp_path):
    data = {"data": [{"title": f"t{i}", "paragraphs": [{"id": f"p{i}", "context": "义乌绿色动力小镇规划面积3.32平方公里。" * (i + 1),
                                                        "qas": [{"id": f"q{i}", "question": "小镇规划面积多大？",
                                                                 "answers": [{"text": "3.32平方公里", "answer_start": 10}]}]}]}
                     for i in range(3)]}
    path = tmp_path / "train.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def test_calibration_pairs_are_questions_with_two_passages(tmp_path) -> None:
    from qa.evaluation.benchmarks import calibration_pairs

    pairs = calibration_pairs(_squad(tmp_path), 2)
    assert len(pairs) == 2
    assert all(q == "小镇规划面积多大？" and len(p) == 2 and all(x.strip() for x in p) for q, p in pairs)


@pytest.mark.slow
def test_train_int8_scales_writes_them_beside_the_reader(tmp_path, capsys) -> None:
    import shutil

    from qa.app.cli import main
    from qa.models.reader import READER_DIR

    folder = tmp_path / "reader"
    shutil.copytree(READER_DIR, folder)
    (folder / SCALES_FILE).unlink()
    assert main(["--quiet", "train", "int8-scales", "--train", str(_squad(tmp_path)), "--pairs", "3",
                 "--reader-dir", str(folder)]) == 0
    assert "activation maxima of 144 linear layers from 3 questions" in capsys.readouterr().out
    assert len(read_maxima(folder)) == 144


@pytest.mark.slow
def test_weights_shared_with_the_embedder_stay_its_own_when_the_reader_is_quantized(embedder) -> None:
    # the reader's lower blocks and the embedder's weights are views of the same e5 file;
    # turning the reader into int8 (smoothing rescales weights) must not touch the embedder's
    from qa.models.reader import Reader

    texts = ["义乌绿色动力小镇规划面积3.32平方公里。", "query: 新增的植物园赛道有多长？"]
    before = embedder.embed_passages(texts)
    fp32, int8 = Reader(precision="fp32"), Reader(precision="int8")
    assert torch.equal(torch.from_numpy(embedder.embed_passages(texts)), torch.from_numpy(before))
    lower = fp32.encoder.blocks[0].q.weight
    assert not lower.requires_grad and torch.equal(lower, Reader(precision="fp32").encoder.blocks[0].q.weight)
    assert int8.precision == "int8"
