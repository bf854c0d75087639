"""ask(): cited extracts are exact body substrings, short answers, no-answer, follow-ups."""

from __future__ import annotations

import pytest

from qa.answer import EXTRACT_CHARS, MAX_QUESTION_CHARS, ask, cut_question, missing_terms
from qa.chat import Conversation
from qa.errors import QuestionError
from qa.types import Answer, Article

BODIES = {
    "green": "义乌绿色动力小镇位于赤岸镇与佛堂镇交界处，规划面积 3.32 平方公里。2015年5月，小镇招引了第一个产业项目"
             "——总投资20.65亿元的吉利集团锋锐发动机项目。\n今年 8 月 23 日，总投资 206 亿元的东方日升 15GW 高效"
             "电池及组件项目落地，9 月23日，项目正式开工建设。",
    "race": "本报讯 2020年义乌国际半程马拉松今日在梅湖体育场激情开跑。\n本届赛事分为半程马拉松、迷你健身跑和亲子健身跑"
            "三大项目，共有近10000人参与。参赛选手将从西城北路进入义乌植物园，在这座“城市绿肺”中穿行4公里。",
    "us": "本报讯 11月13日，美国馆开馆仪式在义乌中国进口商品城孵化区举行。美国馆建设于 2020 年 8 月竣工，面积950平方米。",
}


@pytest.fixture
def small_index(hash_embedder):
    from qa.index import Index

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


def test_ask_cites_exact_body_substrings(small_index) -> None:
    answer = ask("义乌绿色动力小镇的规划面积是多少？", index=small_index)
    _check_invariants(answer)
    first = answer.citations[0]
    assert first.article.id == "green"
    assert "3.32 平方公里" in first.extract
    assert len(first.extract) <= EXTRACT_CHARS
    assert answer.hits and answer.hits[0].rank == 1


def test_citations_come_from_different_passages(small_index) -> None:
    answer = ask("义乌的项目和赛事", index=small_index, k=5)
    _check_invariants(answer)
    spans = [(c.article.id, c.start, c.end) for c in answer.citations]
    for i, (a, s, e) in enumerate(spans):
        for b, s2, e2 in spans[i + 1:]:
            assert a != b or e <= s2 or e2 <= s  # no two extracts overlap


def test_empty_question_raises() -> None:
    with pytest.raises(QuestionError):
        ask("   ")
    with pytest.raises(QuestionError):
        cut_question(None)  # type: ignore[arg-type]


def test_long_question_is_cut(small_index) -> None:
    long = "规划面积是多少？" + "啊" * 2000
    assert len(cut_question(long)) == MAX_QUESTION_CHARS
    answer = ask(long, index=small_index)
    assert len(answer.question) == MAX_QUESTION_CHARS
    _check_invariants(answer)


def test_missing_terms_flags_nouns_the_articles_never_use(small_index) -> None:
    from qa.retrieve import retrieve

    hits = retrieve("美国馆的门票多少钱？", index=small_index)
    assert missing_terms("美国馆的门票多少钱？", hits) == [("门票", 0.5)]
    assert missing_terms("美国馆的职业是什么？", hits) == []  # a category word: its value is stated
    assert missing_terms("How much are the tickets?", hits) == []
    assert missing_terms("美国馆的面积有多大？", hits) == []


def test_history_strings_resolve_follow_ups(small_index) -> None:
    answer = ask("它什么时候竣工的？", index=small_index, history=["美国馆的面积是多少？"])
    assert answer.resolved_question == "美国馆什么时候竣工的？"
    assert answer.question == "它什么时候竣工的？"
    _check_invariants(answer)


# ----------------------------------------------------------------------------- the real model

@pytest.mark.slow
@pytest.mark.parametrize(("question", "short"), [
    ("新增的植物园赛道有多长？", "4公里"),
    ("义乌绿色动力小镇的规划面积是多少？", "3.32 平方公里"),
    ("东方日升的电池项目哪天正式开工？", "9月23日"),
    ("谁担任绿色动力小镇规划的设计总监？", "川崎晴朗先生"),
    ("How many people are taking part in the 2020 Yiwu half marathon?", "近10000人"),
    # The extract joins a neighbour ending in "参加比赛" before the best sentence: the short
    # answer comes from the best sentence.
    ("马拉松的起终点设在哪里？", "梅湖体育中心游泳馆"),
])
def test_sample_answers(sample_index, question: str, short: str) -> None:
    answer = ask(question, index=sample_index)
    _check_invariants(answer)
    assert not answer.no_answer
    assert answer.short_answer == short


@pytest.mark.slow
@pytest.mark.parametrize("question", ["义乌明天会下雨吗？", "美国馆的门票多少钱？", "2020年义乌半程马拉松的冠军是谁？"])
def test_sample_no_answer_still_lists_related_reading(sample_index, question: str) -> None:
    answer = ask(question, index=sample_index)
    _check_invariants(answer)
    assert answer.no_answer
    assert answer.short_answer == ""
    assert answer.citations  # related reading


@pytest.mark.slow
def test_sample_conversation_follow_up(sample_index) -> None:
    chat = Conversation(sample_index, max_turns=3)
    first = chat.ask("美国馆的面积是多少？")
    assert first.short_answer == "950平方米"
    second = chat.ask("它什么时候竣工的？")
    assert second.resolved_question == "美国馆什么时候竣工的？"
    assert second.citations[0].article.id == first.citations[0].article.id
    assert second.short_answer.replace(" ", "") == "2020年8月"
    _check_invariants(second)


def test_warm_embeds_every_sentence_once(small_index, hash_embedder) -> None:
    from qa.answer import warm

    n = warm(small_index)
    assert n >= 6
    before = hash_embedder.passages_embedded
    warm(small_index)
    assert hash_embedder.passages_embedded == before  # cached


def test_warm_batches_match_per_article_vectors(small_index, hash_embedder) -> None:
    import numpy as np

    from qa.answer import _sentences, warm
    from qa.text import split_sentences

    warm(small_index)
    for article in small_index.articles():
        spans, vectors = _sentences(article, small_index.embedder)
        assert spans == split_sentences(article.body)
        if spans:
            expected = hash_embedder.embed_passages([article.body[s:e] for s, e in spans])
            assert np.allclose(vectors, expected)


def test_follow_up_after_an_answer_prefers_its_article(small_index) -> None:
    first = ask("美国馆的面积是多少？", index=small_index)
    second = ask("它什么时候竣工的？", index=small_index, history=[first])
    assert second.resolved_question == "美国馆什么时候竣工的？"
    assert second.citations[0].article.id == "us"
    _check_invariants(second)


@pytest.mark.slow
def test_headline_only_brief_is_cited_by_its_headline(sample_index) -> None:
    answer = ask("我市2021少儿春节联欢晚会启动了吗？", index=sample_index)
    _check_invariants(answer)
    first = answer.citations[0]
    assert first.article.kind == "brief"
    assert first.extract == "我市2021少儿春节联欢晚会正式启动"
    assert not answer.no_answer


def test_short_answer_is_looked_for_in_the_best_sentence_first() -> None:
    from qa.answer import _Sent, _short_span
    from qa.types import Article

    body = "建议市民拼车前往北京路参加比赛。起终点设置在梅湖体育中心游泳馆。"
    cut = body.index("起")
    article = Article("a", "2020-11-14", 1, headline="马拉松", body=body)
    best = _Sent(article, cut, len(body), 1, None, None)
    span = _short_span(best, body, 0, "起终点设在哪里？", "place")
    assert span is not None and span[0] >= cut and "梅湖体育中心" in body[span[0]:span[1]]
    # Nothing of the type in the best sentence: the whole extract is searched.
    body = "今年的参赛规模创新高。共有10000人报名参加。"
    article = Article("b", "2020-11-14", 1, headline="马拉松", body=body)
    first = _Sent(article, 0, body.index("共"), 0, None, None)
    span = _short_span(first, body, 0, "有多少人报名？", "quantity")
    assert span is not None and body[span[0]:span[1]].startswith("10000")


def test_a_loaded_index_answers_from_its_stored_sentence_vectors(tmp_path) -> None:
    from conftest import HashEmbedder

    from qa import answer
    from qa.index import Index

    articles = [Article(id=f"stored-{name}", date="2020-11-14", page=1, headline=name, body=body)
                for name, body in BODIES.items()]
    built = Index.from_articles(articles, model=HashEmbedder(), progress=False)
    folder = built.save(tmp_path / "idx")
    question = "美国馆的面积是多少？"
    expected = [(c.article.id, c.start, c.end) for c in ask(question, index=built).citations]
    assert "950平方米" in ask(question, index=built).citations[0].extract
    for keep_sentences in (True, False):
        if not keep_sentences:
            (folder / "sentences.faiss").unlink()
        loaded = Index.load(folder)
        loaded._embedder = counting = HashEmbedder()
        with answer._cache_lock:
            answer._cache.clear()
        reply = ask(question, index=loaded)
        assert [(c.article.id, c.start, c.end) for c in reply.citations] == expected
        n = answer.warm(loaded)
        # Stored vectors: no sentence is embedded; none stored: each one once, on demand.
        assert counting.passages_embedded == (0 if keep_sentences else n)
