"""ask(): the reader's best span is the short answer, its sentence the first citation; no-answer."""

from __future__ import annotations

import re

import pytest

from qa.answers.ask import MAX_QUESTION_CHARS, READ_K, ask, cut_question, no_answer_settings
from qa.answers.conversation import Conversation
from qa.errors import QuestionError
from qa.models.spans import Reading, Span
from qa.types import Answer, Article

BODIES = {
    "green": "义乌绿色动力小镇位于赤岸镇与佛堂镇交界处，规划面积 3.32 平方公里。2015年5月，小镇招引了第一个产业项目"
             "——总投资20.65亿元的吉利集团锋锐发动机项目。\n今年 8 月 23 日，总投资 206 亿元的东方日升 15GW 高效"
             "电池及组件项目落地，9 月23日，项目正式开工建设。",
    "race": "本报讯 2020年义乌国际半程马拉松今日在梅湖体育场激情开跑。\n本届赛事分为半程马拉松、迷你健身跑和亲子健身跑"
            "三大项目，共有近10000人参与。参赛选手将从西城北路进入义乌植物园，在这座“城市绿肺”中穿行4公里。",
    "us": "本报讯 11月13日，美国馆开馆仪式在义乌中国进口商品城孵化区举行。美国馆建设于 2020 年 8 月竣工，面积950平方米。",
}


class StubReader:
    """Stands in for the trained reader: proposes every number-like run of each passage, its
    margin given by `scores` (a regex -> margin map; 1.0 when none matches, -5 for no number)."""

    def __init__(self, scores: dict[str, float] | None = None, threshold: float = 0.5) -> None:
        self.scores = scores or {}
        self.config = {"no_answer": {"scale": 1.0, "bias": 0.0, "threshold": threshold}}
        self.calls: list[tuple[str, list[str]]] = []
        self.langs: list[str] = []
        self.first_alone: list[float | None] = []

    def read(self, question: str, passages: list[str], *, top: int = 3, lang: str = "zh",
             first_alone: float | None = None) -> list[Reading]:
        self.calls.append((question, list(passages)))
        self.langs.append(lang)
        self.first_alone.append(first_alone)
        out = []
        for i, text in enumerate(passages):
            spans = []
            for m in re.finditer(r"[0-9][0-9. ]*[^0-9，。、\s]{0,4}", text):
                margin = next((v for k, v in self.scores.items() if re.search(k, m.group(0))), 1.0)
                spans.append(Span(i, m.start(), m.end(), m.group(0), margin + 3, margin))
            spans.sort(key=lambda s: -s.margin)
            out.append(Reading(i, 0.0, tuple(spans[:top])))
        if first_alone is not None and out and max((s.rank for s in out[0].spans), default=-99.0) >= first_alone:
            out[1:] = [Reading.unread(i) for i in range(1, len(out))]
        return out


@pytest.fixture
def small_index(hash_embedder):
    from qa.store.index import Index

    articles = [Article(id=name, date="2020-11-14", page=1, headline=name, body=body)
                for name, body in BODIES.items()]
    index = Index.from_articles(articles, model=hash_embedder, progress=False)
    yield index
    index.close()


def _check_invariants(answer: Answer) -> None:
    assert 0.0 <= answer.confidence <= 1.0
    assert len(answer.citations) <= 3
    assert [c.n for c in answer.citations] == list(range(1, len(answer.citations) + 1))
    for c in answer.citations:
        if c.article.body:
            assert c.extract == c.article.body[c.start:c.end]
        else:  # a headline-only brief is cited by its headline
            assert (c.extract, c.start, c.end) == (c.article.title, 0, 0)
        assert c.extract.strip() == c.extract and c.extract
        if c.highlight is not None:
            s, e = c.highlight
            assert 0 <= s < e <= len(c.extract)
    if answer.short_answer:
        first = answer.citations[0]
        assert answer.short_answer in first.extract
        assert first.highlight is not None
        assert first.extract[first.highlight[0]:first.highlight[1]] == answer.short_answer
    if answer.no_answer:
        assert answer.short_answer == ""


def test_best_span_is_the_short_answer_and_its_sentence_the_first_citation(small_index) -> None:
    reader = StubReader({r"3\.32": 4.0})
    answer = ask("义乌绿色动力小镇的规划面积是多少？", index=small_index, reader=reader)
    _check_invariants(answer)
    assert answer.short_answer == "3.32 平方公里"
    first = answer.citations[0]
    assert first.article.id == "green"
    assert first.extract == "义乌绿色动力小镇位于赤岸镇与佛堂镇交界处，规划面积 3.32 平方公里。"
    assert first.score == 4.0
    assert answer.confidence == pytest.approx(1 / (1 + 2.718281828459045 ** -4.0), abs=1e-4)
    # the hits are re-ordered by what the reader found: the passage of the best span first
    assert answer.hits[0].article.id == "green"
    assert len(reader.calls) == 1 and len(reader.calls[0][1]) <= READ_K


def test_later_citations_come_from_other_passages_and_never_overlap(small_index) -> None:
    answer = ask("义乌的项目和赛事", index=small_index, k=5, reader=StubReader())
    _check_invariants(answer)
    assert len(answer.citations) >= 2
    spans = [(c.article.id, c.start, c.end) for c in answer.citations]
    for i, (a, s, e) in enumerate(spans):
        for b, s2, e2 in spans[i + 1:]:
            assert a != b or e <= s2 or e2 <= s


def test_later_citations_highlight_only_spans_scored_as_answers(small_index) -> None:
    # 3.32 is the answer (margin 4); the other passages' numbers are spans the reader scored
    # below their passages' no-answer score (margin -2), so they are cited unmarked
    reader = StubReader({r"3\.32": 4.0, r".*": -2.0})
    answer = ask("义乌绿色动力小镇的规划面积是多少？", index=small_index, k=5, reader=reader)
    _check_invariants(answer)
    assert answer.short_answer == "3.32 平方公里" and len(answer.citations) >= 2
    assert answer.citations[0].highlight is not None
    assert all(c.highlight is None for c in answer.citations[1:])
    # scored as answers (margin 1), they are marked
    marked = ask("义乌绿色动力小镇的规划面积是多少？", index=small_index, k=5,
                 reader=StubReader({r"3\.32": 4.0, r".*": 1.0}))
    assert all(c.highlight is not None for c in marked.citations)


def test_below_the_threshold_the_answer_is_no_answer_with_related_reading(small_index) -> None:
    reader = StubReader({".": -3.0})
    answer = ask("美国馆的门票多少钱？", index=small_index, reader=reader)
    _check_invariants(answer)
    assert answer.no_answer and answer.short_answer == ""
    assert answer.citations and all(c.highlight is None for c in answer.citations)
    assert answer.confidence == pytest.approx(1 / (1 + 2.718281828459045 ** 3.0), abs=1e-4)


def test_answer_features_describe_the_passage_of_the_best_margin(small_index) -> None:
    from qa.answers.ask import ANSWER_FEATURES, answer_features
    from qa.search.retrieve import retrieve

    hits = retrieve("2020年义乌国际半程马拉松有多少人参与？", k=READ_K, index=small_index)
    readings = StubReader({"10000": 6.0}).read("q", [h.passage.text for h in hits])
    race = next(i for i, h in enumerate(hits) if h.article.id == "race")
    found = answer_features("2020年义乌国际半程马拉松有多少人参与？", hits, readings)
    assert set(found) == set(ANSWER_FEATURES)
    assert found["margin"] == 6.0 and found["runner_up"] < 6.0
    assert found["fused"] == hits[race].score and found["numbers_missing"] == 0.0
    assert 0.0 < found["terms_passage"] <= found["terms_article"] <= 1.0
    # a year the article does not print counts against the answer; a follow-up bonus lifts the margin
    other_year = answer_features("2019年义乌国际半程马拉松有多少人参与？", hits, readings,
                                 [1.0 if i == race else 0.0 for i in range(len(hits))])
    assert other_year["numbers_missing"] == 1.0 and other_year["margin"] == 7.0


def test_a_calibration_with_weights_weighs_every_feature(small_index) -> None:
    from qa.answers.ask import confidence_from

    question = "2019年义乌国际半程马拉松有多少人参与？"
    plain = StubReader({"10000": 6.0})
    assert not ask(question, index=small_index, reader=plain).no_answer
    weighted = StubReader({"10000": 6.0})
    weighted.config = {"no_answer": {"weights": {"margin": 1.0, "numbers_missing": -8.0}, "bias": 0.0,
                                     "threshold": 0.5}}
    answer = ask(question, index=small_index, reader=weighted)
    _check_invariants(answer)
    assert answer.no_answer and answer.confidence == pytest.approx(1 / (1 + 2.718281828459045 ** 2.0), abs=1e-4)
    features = {"margin": 2.0, "numbers_missing": 0.5}
    assert confidence_from(features, {"scale": 2.0, "bias": -1.0}) == pytest.approx(1 / (1 + 2.718281828459045 ** -3))
    assert confidence_from(features, {"weights": {"margin": 2.0, "numbers_missing": -2.0}, "bias": -1.0}) == \
        pytest.approx(1 / (1 + 2.718281828459045 ** -2))


def test_no_span_at_all_is_no_answer(small_index) -> None:
    class Silent(StubReader):
        def read(self, question, passages, *, top=3, lang="zh", first_alone=None):
            return [Reading(i, 5.0, ()) for i in range(len(passages))]

    answer = ask("随便问问", index=small_index, reader=Silent())
    assert answer.no_answer and answer.short_answer == "" and not answer.citations


def test_empty_question_raises() -> None:
    with pytest.raises(QuestionError):
        ask("   ")
    with pytest.raises(QuestionError):
        cut_question(None)  # type: ignore[arg-type]


def test_long_question_is_cut(small_index) -> None:
    long = "规划面积是多少？" + "啊" * 2000
    assert len(cut_question(long)) == MAX_QUESTION_CHARS
    reader = StubReader()
    answer = ask(long, index=small_index, reader=reader)
    assert len(answer.question) == MAX_QUESTION_CHARS
    assert len(reader.calls[0][0]) == MAX_QUESTION_CHARS
    _check_invariants(answer)


def test_history_strings_resolve_follow_ups(small_index) -> None:
    reader = StubReader()
    answer = ask("它什么时候竣工的？", index=small_index, history=["美国馆的面积是多少？"], reader=reader)
    assert answer.resolved_question == "美国馆什么时候竣工的？"
    assert answer.question == "它什么时候竣工的？"
    assert reader.calls[0][0] == "美国馆什么时候竣工的？"  # the reader reads the resolved question
    _check_invariants(answer)


def test_follow_up_prefers_the_article_the_previous_answer_cited(small_index) -> None:
    # Equal margins everywhere: only the follow-up bonus tells the articles apart.
    first = ask("美国馆的面积是多少？", index=small_index, reader=StubReader({"950": 3.0}))
    assert first.citations[0].article.id == "us"
    second = ask("它是什么时候竣工的？", index=small_index, history=[first], reader=StubReader())
    assert second.citations[0].article.id == "us"
    _check_invariants(second)


def test_the_first_passage_is_read_alone_from_the_fitted_rank(small_index) -> None:
    # without a fitted rank every passage is read; with one, ask hands it to the reader, and a
    # first passage that answers surely decides alone, with the others listed but not cited
    reader = StubReader({"3.32": 6.0})
    everything = ask("义乌绿色动力小镇的规划面积是多少？", index=small_index, reader=reader)
    assert reader.first_alone == [None]
    reader = StubReader({"3.32": 6.0})
    reader.config["first_passage"] = {"rank": 4.0}
    alone = ask("义乌绿色动力小镇的规划面积是多少？", index=small_index, reader=reader)
    assert reader.first_alone == [4.0]
    assert alone.short_answer == everything.short_answer == "3.32 平方公里"
    assert [c.article.id for c in alone.citations] == ["green"]
    assert len(everything.citations) > 1 and len(alone.hits) == len(everything.hits)
    _check_invariants(alone)


def test_a_follow_up_reads_every_passage(small_index) -> None:
    # the previous answer's articles get a bonus that may lift a later passage over the first
    reader = StubReader({"950": 6.0})
    reader.config["first_passage"] = {"rank": 4.0}
    first = ask("美国馆的面积是多少？", index=small_index, reader=reader)
    ask("它是什么时候竣工的？", index=small_index, history=[first], reader=reader)
    assert reader.first_alone == [4.0, None]


# ----------------------------------------------------------------------------- the real model

# Known miss of the shipped reader (docs/quality.md): it reads "穿行4公里" as no answer to
# "赛道有多长" (best margin -7.2, no span above its no-answer score). strict: a better reader that gets it right turns this into a
# failure to be promoted to a plain case (as "川崎晴朗" was, once the reader read OCR text
# without its spaces).
_KNOWN_MISS = pytest.mark.xfail(strict=True, reason="known miss of the shipped reader")


@pytest.mark.slow
@pytest.mark.parametrize(("question", "short"), [
    pytest.param("新增的植物园赛道有多长？", "4公里", marks=_KNOWN_MISS),
    ("义乌绿色动力小镇的规划面积是多少？", "3.32 平方公里"),
    ("谁担任绿色动力小镇规划的设计总监？", "川崎晴朗"),
    ("美国馆的面积是多少？", "950平方米"),
    ("义马的参赛人员来自多少个国家和地区？", "21个国家和地区"),
])
def test_sample_answers(sample_index, question: str, short: str) -> None:
    answer = ask(question, index=sample_index)
    _check_invariants(answer)
    assert not answer.no_answer
    assert answer.short_answer == short


@pytest.mark.slow
@pytest.mark.parametrize("question", ["义乌明天会下雨吗？", "%s%s%n", "{{7*7}}", "🙂🙂🙂?", "a" * 100_000,
                                      "SELECT * FROM users;"])
def test_sample_no_answer_still_lists_related_reading(sample_index, question: str) -> None:
    answer = ask(question, index=sample_index)
    _check_invariants(answer)
    assert answer.no_answer
    assert answer.short_answer == ""


@pytest.mark.slow
def test_sample_conversation_follow_up_reads_the_cited_article(sample_index) -> None:
    # The rules read "那有多少人参加？" as asked of the botanical-garden section (no answer);
    # the reading asked of the article the first answer cited answers it.
    chat = Conversation(sample_index, max_turns=3)
    first = chat.ask("新增的植物园赛道有多长？")
    assert first.citations[0].article.title.startswith("2020年义乌国际半程马拉松")
    second = chat.ask("那有多少人参加？")
    assert not second.no_answer
    assert second.short_answer == "近10000人"
    assert second.resolved_question.startswith(first.citations[0].article.title)
    _check_invariants(second)


@pytest.mark.slow
def test_follow_up_with_questions_alone_as_history(sample_index) -> None:
    # the API passes earlier questions, not Answers: the previous question's best article
    # stands for the one its answer cited
    answer = ask("那有多少人参加？", index=sample_index, history=["新增的植物园赛道有多长？"])
    assert not answer.no_answer and answer.short_answer == "近10000人"
    assert answer.resolved_question.startswith("2020年义乌国际半程马拉松")
    _check_invariants(answer)


@pytest.mark.slow
def test_headline_only_brief_is_cited_by_its_headline(sample_index) -> None:
    answer = ask("我市2021少儿春节联欢晚会启动了吗？", index=sample_index)
    _check_invariants(answer)
    assert any(c.article.kind == "brief" and c.extract == "我市2021少儿春节联欢晚会正式启动"
               for c in answer.citations)


@pytest.mark.slow
def test_sample_follow_up_with_a_pronoun(sample_index) -> None:
    chat = Conversation(sample_index, max_turns=3)
    assert chat.ask("美国馆的面积是多少？").short_answer == "950平方米"
    second = chat.ask("它什么时候竣工的？")
    assert second.resolved_question != "它什么时候竣工的？"
    assert not second.no_answer and second.short_answer == "2020 年 8 月"
    assert second.citations[0].article.title.startswith("美国馆")
    _check_invariants(second)


def test_date_range_restricts_what_is_read_and_cited(hash_embedder) -> None:
    from qa.errors import InputError
    from qa.store.index import Index

    articles = [Article(id=f"green-{d}", date=d, page=1, headline=f"小镇 {d}", body=BODIES["green"])
                for d in ("2020-11-14", "2020-11-20", "2020-12-01")]
    index = Index.from_articles(articles, model=hash_embedder, progress=False)
    try:
        reader = StubReader({r"3\.32": 4.0})
        for since, until, dates in (("2020-11-15", "2020-11-30", {"2020-11-20"}),
                                    ("2020-11-20", None, {"2020-11-20", "2020-12-01"}),
                                    (None, "2020-11-14", {"2020-11-14"})):
            answer = ask("义乌绿色动力小镇的规划面积是多少？", index=index, reader=reader,
                         since=since, until=until)
            _check_invariants(answer)
            assert answer.short_answer == "3.32 平方公里"
            assert {c.article.date for c in answer.citations} <= dates
            assert {h.article.date for h in answer.hits} == dates
        empty = ask("义乌绿色动力小镇的规划面积是多少？", index=index, reader=reader, since="2021-01-01")
        assert empty.no_answer and not empty.citations and not empty.hits
        with pytest.raises(InputError, match="date range is empty"):
            ask("规划面积？", index=index, reader=reader, since="2020-12-01", until="2020-11-01")
    finally:
        index.close()


def test_span_order_weighs_how_far_each_passage_is_below_the_best_retrieved() -> None:
    from qa.answers.ask import span_order

    near = Span(0, 0, 2, "aa", 5.0, 2.0)  # rank 2.0, in the best-retrieved passage
    far = Span(1, 0, 2, "bb", 6.0, 3.0)  # rank 3.0, in a passage 0.25 below it
    assert span_order([near, far], [1.0, 0.75], 0.0) == [far, near]  # the reader alone
    assert span_order([near, far], [1.0, 0.75], 3.9) == [far, near]  # 3.0 - 0.975 > 2.0
    assert span_order([near, far], [1.0, 0.75], 4.1) == [near, far]  # 3.0 - 1.025 < 2.0


def test_the_retrieval_weight_of_reader_json_picks_the_span_of_the_better_retrieved_passage(small_index) -> None:
    from qa.search.retrieve import retrieve

    question = "小镇和马拉松"
    hits = retrieve(question, k=READ_K, index=small_index)
    assert hits[0].score > hits[1].score
    second = hits[1].article.id
    # the reader likes the second passage's numbers a little better than the first's
    scores = {"10000|4公里|2020": 2.0} if second == "race" else {"3.32|20.65|206|15GW|23日": 2.0}
    reader = StubReader(scores)
    plain = ask(question, index=small_index, reader=reader)
    assert plain.citations[0].article.id == second
    gap = hits[0].score - hits[1].score
    reader.config["retrieval_weight"] = {"weight": 2.0 / gap}  # a margin 1.0 worse is worth it now
    weighted = ask(question, index=small_index, reader=reader)
    _check_invariants(weighted)
    assert weighted.citations[0].article.id == hits[0].article.id
    assert weighted.hits[0].article.id == hits[0].article.id


def test_top_features_describe_the_first_hit_wherever_the_answer_is(small_index) -> None:
    from qa.answers.ask import answer_features
    from qa.search.retrieve import retrieve

    hits = retrieve("美国馆的面积", k=READ_K, index=small_index)
    readings = StubReader({"950": -1.0, ".": 4.0}).read("q", [h.passage.text for h in hits])
    found = answer_features("美国馆的面积", hits, readings)
    assert found["top_fused"] == hits[0].score and found["top_dense"] == hits[0].dense


# ---- English questions over Chinese text: read in their dictionary terms, gated by their own calibration

ENGLISH_QUESTION = "How long is the new botanical garden section of the race?"


class Config:
    def __init__(self, config):
        self.config = config


def test_no_answer_settings_per_language():
    zh = {"scale": 1.0, "bias": 0.0, "threshold": 0.4}
    en = {"scale": 2.0, "bias": 1.0, "threshold": 0.1}
    assert no_answer_settings(Config({"no_answer": zh, "no_answer_en": en}), "en")["threshold"] == 0.1
    assert no_answer_settings(Config({"no_answer": zh, "no_answer_en": en}), "zh")["threshold"] == 0.4
    # until an English calibration is fitted, English questions use the Chinese one
    assert no_answer_settings(Config({"no_answer": zh}), "en")["threshold"] == 0.4


def test_english_question_is_read_in_chinese_terms(small_index):
    reader = StubReader({"4公里": 4.0})
    answer = ask(ENGLISH_QUESTION, index=small_index, reader=reader)
    read_as = reader.calls[-1][0]
    terms, asked = read_as.split("？ ", 1)  # its Chinese terms, then the question as asked
    assert "植物园" in terms and terms.endswith("多长")
    assert not any(c.isascii() and c.isalpha() for c in terms)
    assert asked == ENGLISH_QUESTION
    assert reader.langs[-1] == "en"  # read by the members routed for English
    assert answer.reading == read_as
    assert answer.short_answer == "4公里" and answer.english == "4 km"
    _check_invariants(answer)


def test_english_gate_decides_english_questions(small_index):
    reader = StubReader({"4公里": 4.0}, threshold=0.5)
    reader.config["no_answer_en"] = {"scale": 1.0, "bias": 0.0, "threshold": 0.9999}
    assert ask(ENGLISH_QUESTION, index=small_index, reader=reader).no_answer
    # the same span, asked in Chinese, passes the Chinese gate
    chinese = ask("新增的植物园赛道有多长？", index=small_index, reader=reader)
    assert not chinese.no_answer and chinese.english == "" and chinese.reading == ""


def test_chinese_questions_are_read_as_asked(small_index):
    reader = StubReader()
    ask("美国馆的面积是多少？", index=small_index, reader=reader)
    assert reader.calls[-1][0] == "美国馆的面积是多少？"


@pytest.mark.slow
@pytest.mark.parametrize(("question", "short", "english"), [
    ("How long is the new botanical garden section of the half marathon course?", "4公里", "4 km"),
    ("How large is the US pavilion in Yiwu?", "950平方米", "950 m²"),
    ("Which country is the guest of honour at the 2020 Yiwu import fair?", "俄罗斯", "Russia (dictionary gloss)"),
    pytest.param("How many people are taking part in the 2020 Yiwu half marathon?", "近10000人",
                 "nearly 10,000 people", marks=_KNOWN_MISS),  # reads the parking passage: 约3400 个 (0.34)
])
def test_sample_english_answers(sample_index, question, short, english):
    answer = ask(question, index=sample_index)
    _check_invariants(answer)
    assert not answer.no_answer, answer.confidence
    assert answer.short_answer == short
    assert answer.english == english


@pytest.mark.slow
@pytest.mark.parametrize("question", [
    pytest.param("Who won the 2020 US election?", marks=pytest.mark.xfail(
        strict=True, reason="known miss: 2020 and US (美国) cover half the question in the US pavilion "
                            "article and the reader picks 义乌 (confidence 0.39 against the English threshold 0.32)")),
                                      "What is the capital of France?", "What is the population of Yiwu?",
                                      "lorem ipsum dolor sit amet", "SELECT * FROM users;"])
def test_sample_english_unanswerable(sample_index, question):
    answer = ask(question, index=sample_index)
    _check_invariants(answer)
    assert answer.no_answer and answer.english == ""


@pytest.mark.slow
def test_sample_english_follow_up(sample_index):
    chat = Conversation(sample_index, max_turns=3)
    assert chat.ask("How large is the US pavilion in Yiwu?").short_answer == "950平方米"
    second = chat.ask("When was it completed?")
    assert second.resolved_question == "When was the US pavilion completed?"
    assert not second.no_answer and "8 月" in second.short_answer
    assert "竣工" in second.citations[0].extract


@pytest.mark.slow
def test_reading_the_first_passage_alone_keeps_the_bundled_answers(sample_index) -> None:
    """The claim of docs/operations.md: an fp32 reader (as on CPUs without native bf16) reads most
    bundled questions from their first passage alone and gives the short answers it gives reading
    all three (at least 98% the same)."""
    import json

    from qa.models.reader import Reader
    from qa.paths import sample_questions

    rows = [json.loads(line) for line in sample_questions().read_text(encoding="utf-8").splitlines()]
    rows = [r for r in rows if not r.get("turns")]
    questions = [r["question"] for r in rows]
    reader = Reader(precision="fp32")
    assert reader.config["first_passage"]["rank"] is not None
    read_alone = []
    plain_read = reader.read

    def counting(*args, **kwargs):
        readings = plain_read(*args, **kwargs)
        read_alone.append(not all(r.read for r in readings))
        return readings

    reader.read = counting
    alone = [ask(q, index=sample_index, reader=reader).short_answer for q in questions]
    # most answerable Chinese questions (English margins run lower; noise is never sure)
    zh = [alone for r, alone in zip(rows, read_alone) if r["lang"] == "zh" and r.get("answerable", True)]
    assert sum(zh) >= 0.6 * len(zh), (sum(zh), len(zh))
    fitted = reader.config.pop("first_passage")
    try:
        read_alone.clear()
        every = [ask(q, index=sample_index, reader=reader).short_answer for q in questions]
    finally:
        reader.config["first_passage"] = fitted
    assert not any(read_alone)
    same = sum(a == b for a, b in zip(alone, every)) / len(questions)
    assert same >= 0.98, [(q, a, b) for q, a, b in zip(questions, alone, every) if a != b]
