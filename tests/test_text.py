"""Normalization, offsets, sentence spans and lexical terms."""

from __future__ import annotations

import threading

import pytest

from qa.text import (
    compact,
    has_han,
    normalize,
    normalize_with_offsets,
    split_sentences,
    tokenize,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("206 亿元", "206亿元"),
        ("11 月 13 日", "11月13日"),
        ("许 竣 哲", "许竣哲"),
        ("Hello   World", "hello world"),
        ("ＴＸ５ 产品", "tx5产品"),
        ("总投资 105 亿元的吉利发动机", "总投资105亿元的吉利发动机"),
        ("东方日升 15GW 高效电池", "东方日升15gw高效电池"),
        ("规划面积\u30003.32 平方公里", "规划面积3.32平方公里"),
        ("  leading and trailing \n", "leading and trailing"),
        ("line\nbreak", "line break"),
        ("", ""),
    ],
)
def test_normalize_examples(raw: str, expected: str) -> None:
    assert normalize(raw) == expected


def test_normalize_matches_across_ocr_spacing() -> None:
    assert normalize("206 亿元") == normalize("206亿元")
    assert normalize("11 月 13 日") == normalize("11月13日")


@pytest.mark.parametrize(
    "raw",
    ["206 亿元", "许 竣 哲", "ＡＢＣ１２３ 测试", "e\u0301t\u00e9 ①", "  a\n b ", "ﬁne ㎡", "İstanbul", ""],
)
def test_offsets_point_back_to_the_original(raw: str) -> None:
    norm, offsets = normalize_with_offsets(raw)
    assert norm == normalize(raw)
    assert len(offsets) == len(norm)
    assert offsets == sorted(offsets)
    assert all(0 <= o < len(raw) for o in offsets)
    for ch, o in zip(norm, offsets):
        if ch != " ":
            assert not raw[o].isspace()


def test_offsets_highlight_a_span_in_the_printed_text() -> None:
    raw = "总投资 206 亿元的东方日升项目"
    norm, offsets = normalize_with_offsets(raw)
    i = norm.index("206亿元")
    start, end = offsets[i], offsets[i + len("206亿元") - 1] + 1
    assert raw[start:end] == "206 亿元"


def test_compact_removes_all_whitespace() -> None:
    assert compact("义乌 绿色\n动力　小镇 ２０") == "义乌绿色动力小镇20"
    assert compact("Hello World") == "HelloWorld"


def _sentences(text: str) -> list[str]:
    spans = split_sentences(text)
    for a, b in spans:
        assert 0 <= a < b <= len(text)
    return [text[a:b] for a, b in spans]


def test_split_chinese_sentences_keeps_closing_quotes() -> None:
    text = "他说：“招商引资是活力来源。”义乌经济技术开发区负责人介绍。真的吗？！好……再见；结束"
    assert _sentences(text) == [
        "他说：“招商引资是活力来源。”",
        "义乌经济技术开发区负责人介绍。",
        "真的吗？！",
        "好……",
        "再见；",
        "结束",
    ]


def test_split_keeps_decimals_and_units() -> None:
    text = "总投资4.78亿元。生产1.5T发动机，规划面积3.32平方公里。"
    assert _sentences(text) == ["总投资4.78亿元。", "生产1.5T发动机，规划面积3.32平方公里。"]


def test_split_english() -> None:
    text = "Mr. Smith went to Washington. He paid $4.5 million! J. K. Rowling wrote it? Yes (really.) Done"
    assert _sentences(text) == [
        "Mr. Smith went to Washington.",
        "He paid $4.5 million!",
        "J. K. Rowling wrote it?",
        "Yes (really.)",
        "Done",
    ]


def test_paragraph_breaks_end_sentences() -> None:
    text = "第一段没有句号\n\n  第二段。  \n第三段"
    assert _sentences(text) == ["第一段没有句号", "第二段。", "第三段"]


def test_split_empty_and_blank() -> None:
    assert split_sentences("") == []
    assert split_sentences(" \n\t ") == []


def test_tokenize_keeps_numbers_and_units() -> None:
    terms = tokenize("总投资4.78亿元的项目")
    assert "4.78" in terms and "4.78亿元" in terms and "亿元" in terms
    assert "." not in terms and "4" not in terms
    assert {"15gw", "15", "gw"} <= set(tokenize("东方日升15GW高效电池"))
    assert {"tx5"} <= set(tokenize("全新一代超低排放 TX5 产品"))
    assert {"1.5", "1.5t"} <= set(tokenize("1.5T发动机"))
    assert {"8月", "23日"} <= set(tokenize("今年 8 月 23 日"))


def test_query_terms_meet_document_terms() -> None:
    doc = set(tokenize("总投资 206 亿元的东方日升 15GW 高效电池及组件项目落地"))
    for query in ("206亿元", "15GW", "东方日升", "高效电池"):
        assert set(tokenize(query)) & doc, query


def test_tokenize_drops_punctuation_and_lowercases() -> None:
    terms = tokenize("“Hello, World!” 他说：《战国无双3》（光荣和ω-force）")
    assert "hello" in terms and "world" in terms and "force" in terms
    assert all(t.strip() for t in terms)
    assert not any(ch in t for t in terms for ch in "“”,!：《》（）-")
    assert tokenize("") == []
    assert tokenize("？！。，") == []


def test_tokenize_bigrams_fallback() -> None:
    terms = tokenize("许竣哲", bigrams=True)
    assert "竣哲" in terms
    assert "竣哲" not in tokenize("许竣哲")


def test_tokenize_is_thread_safe() -> None:
    text = "义乌绿色动力小镇位于赤岸镇与佛堂镇交界处，规划面积3.32平方公里。"
    expected = tokenize(text)
    results: list[list[str]] = []

    def work() -> None:
        for _ in range(20):
            results.append(tokenize(text))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 80 and all(r == expected for r in results)


def test_unknown_names_segment_the_same_in_question_and_text() -> None:
    # jieba's HMM would cut "许竣哲说" as 许竣|哲说 but the question's "许竣哲" as 许竣|哲
    assert set(tokenize("许竣哲")) <= set(tokenize("上海葡萄酒消费信息中心秘书长许竣哲说"))


def test_tokenize_latin_and_digit_runs() -> None:
    assert tokenize("v1.2.3版本") == ["v1", "v", "1", "2.3", "版本"]
    assert tokenize("Hello World的 iPhone12") == ["hello", "world", "的", "iphone12", "iphone", "12"]


@pytest.mark.parametrize(("text", "expected"), [
    ("义乌绿色动力小镇在哪？", True), ("What is 义乌?", True), ("㐀", True), ("\U00020000", True),
    ("What is the area?", False), ("ＡＢＣ１２３？", False), ("これはペンです", False), ("", False),
])
def test_has_han(text: str, expected: bool) -> None:
    assert has_han(text) is expected
