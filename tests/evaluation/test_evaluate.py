"""The evaluation runner with a stand-in `ask`, question-set loading, reports."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from qa.errors import InputError, QuestionError
from qa.evaluation.evaluate import evaluate, format_report
from qa.evaluation.questions import Question, load_questions
from qa.paths import sample_questions
from qa.types import Answer, Article, Citation, Hit, Passage

DATA = Path(__file__).parents[1] / "data"

TOWN = Article("a1", "2020-11-14", 1, headline="小镇", body="小镇规划面积 3.32 平方公里。位于赤岸镇。")
RUN = Article("a2", "2020-11-14", 1, headline="马拉松", body="新增植物园赛道穿行4公里。共有近10000人参与。")


def _hit(article: Article, text: str, rank: int) -> Hit:
    start = article.body.index(text)
    return Hit(Passage(rank, article.id, start, start + len(text), text), article, rank, 1.0 / rank)


def _cite(n: int, article: Article, text: str) -> Citation:
    start = article.body.index(text)
    return Citation(n, article, text, start, start + len(text))


class FakeAsk:
    """Canned answers keyed by question; records the history each question was asked with."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, object, int]] = []
        self.canned = {
            # right article, right passage, right extract, exact short answer
            "面积？": Answer("面积？", "面积？", "3.32 平方公里",
                            (_cite(1, TOWN, "小镇规划面积 3.32 平方公里。"),),
                            0.9, False, (_hit(TOWN, "小镇规划面积 3.32 平方公里。", 1),)),
            # gold in the second hit and the second citation; short answer partly right
            "赛道多长？": Answer("赛道多长？", "赛道多长？", "约4公里",
                             (_cite(1, RUN, "共有近10000人参与。"), _cite(2, RUN, "新增植物园赛道穿行4公里。")),
                             0.6, False, (_hit(TOWN, "位于赤岸镇。", 1), _hit(RUN, "新增植物园赛道穿行4公里。", 2))),
            # follow-up, resolved, but wrongly said no_answer
            "它在哪？": Answer("它在哪？", "小镇 它在哪？", "", (_cite(1, TOWN, "位于赤岸镇。"),), 0.2, True,
                            (_hit(TOWN, "位于赤岸镇。", 1),)),
            "小镇面积？": Answer("小镇面积？", "小镇面积？", "3.32 平方公里",
                              (_cite(1, TOWN, "小镇规划面积 3.32 平方公里。"),), 0.9, False,
                              (_hit(TOWN, "小镇规划面积 3.32 平方公里。", 1),)),
            "明天下雨吗？": Answer("明天下雨吗？", "明天下雨吗？", "", (), 0.1, True, (_hit(RUN, "共有近10000人参与。", 1),)),
            "Who won?": Answer("Who won?", "Who won?", "王健", (_cite(1, RUN, "共有近10000人参与。"),), 0.7, False,
                               (_hit(RUN, "共有近10000人参与。", 1),)),
        }

    def __call__(self, question: str, *, index=None, history=None, k=5) -> Answer:
        self.calls.append((question, history, k))
        if question == "boom":
            raise QuestionError("cannot ask that")
        return self.canned[question]


QUESTIONS = [
    Question("q1", "面积？", ("3.32平方公里",)),
    Question("q2", "赛道多长？", ("4公里",)),
    Question("q3", "它在哪？", ("赤岸镇",), turns=("小镇面积？",)),
    Question("q4", "明天下雨吗？", (), answerable=False),
    Question("q5", "Who won?", (), answerable=False, lang="en"),
]


def test_evaluate_hand_computed_metrics():
    fake = FakeAsk()
    report = evaluate(QUESTIONS, k=7, progress=False, ask_fn=fake)
    m = report.metrics
    assert m["article_hit@1"] == pytest.approx(2 / 3)  # q2's first hit is the town article
    assert m["article_hit@5"] == 1.0
    assert m["passage_hit@1"] == pytest.approx(2 / 3)
    assert m["mrr@10"] == pytest.approx((1 + 0.5 + 1) / 3)
    assert m["extract_hit@1"] == pytest.approx(2 / 3)
    assert m["extract_hit@3"] == 1.0
    # Official CMRC EM keeps inner spaces: "3.32 平方公里" is not "3.32平方公里"; its F1 is 1
    # (the segments agree); "约4公里" vs "4公里": segments [约, 4, 公, 里] vs [4, 公, 里], P 3/4, R 1.
    assert m["short_answer_exact"] == 0.0
    assert m["short_answer_f1"] == pytest.approx((1 + 6 / 7) / 3)
    assert m["no_answer_accuracy"] == 0.5
    assert m["false_no_answer_rate"] == pytest.approx(1 / 3)
    assert m["latency_ms_p50"] >= 0
    # a follow-up is asked after its turns, with their Answers as history (as in the chat);
    # k is passed through; one untimed warm-up call
    assert fake.calls[0] == ("面积？", None, 7)
    turn = fake.canned["小镇面积？"]
    assert ("小镇面积？", None, 7) in fake.calls and ("它在哪？", [turn], 7) in fake.calls
    by_id = {r.id: r for r in report.questions}
    assert [r.id for r in report.questions] == ["q1", "q2", "q3", "q4", "q5"]
    assert (by_id["q2"].article_rank, by_id["q2"].passage_rank, by_id["q2"].extract_rank) == (2, 2, 2)
    assert by_id["q3"].resolved_question == "小镇 它在哪？"
    assert [r.ok for r in report.questions] == [True, False, False, True, False]


def test_report_to_dict_is_json_and_format_lists_worst_first():
    report = evaluate(QUESTIONS, progress=False, ask_fn=FakeAsk())
    d = json.loads(json.dumps(report.to_dict(), ensure_ascii=False))
    assert set(d) == {"metrics", "by_lang", "questions"}
    # English questions are reported apart: q5 (en) answered although unanswerable, q4 (zh) not
    assert d["by_lang"]["zh"]["no_answer_accuracy"] == 1.0 and d["by_lang"]["en"]["no_answer_accuracy"] == 0.0
    assert d["by_lang"]["en"]["extract_hit@1"] is None  # no answerable English question
    q3 = d["questions"][2]
    assert q3["ranks"] == {"article": 1, "passage": 1, "extract": 1}
    assert q3["ok"]["ok"] is False and q3["no_answer"] is True
    assert q3["resolved_question"] == "小镇 它在哪？"
    text = format_report(report, worst=10)
    lines = text.splitlines()
    assert lines[0] == "5 questions (3 answerable, 2 unanswerable)"
    assert lines[2].split() == ["metric", "all", "zh", "(4)", "en", "(1)"]
    assert any(line.split() == ["extract_hit@1", "0.667", "0.667", "n/a"] for line in lines)
    # q2 (extract missed at rank 1) before q3 (false no-answer) before q5 (answered the unanswerable)
    order = [line.split()[1] for line in lines if line.startswith(("MISS", "ok "))]
    assert order[:3] == ["q2", "q3", "q5"]
    assert "resolved: 小镇 它在哪？" in text
    assert "worst questions" not in format_report(report, worst=0)


def test_errors_from_ask_are_recorded_not_raised():
    report = evaluate([Question("x", "boom", ("a",))] + QUESTIONS[:1], progress=False, ask_fn=FakeAsk())
    assert report.questions[0].error.startswith("QuestionError")
    assert report.metrics["extract_hit@1"] == 0.5
    assert "ERROR x" in format_report(report)


def test_a_turn_that_cannot_be_asked_stays_in_the_history_as_its_question():
    fake = FakeAsk()
    evaluate([Question("f", "它在哪？", ("赤岸镇",), turns=("boom", "小镇面积？"))], progress=False, ask_fn=fake)
    # the second turn already sees the first as a question; the follow-up sees both turns
    assert ("小镇面积？", ["boom"], 5) in fake.calls
    assert ("它在哪？", ["boom", fake.canned["小镇面积？"]], 5) in fake.calls


def test_nan_metrics_become_null_in_json():
    report = evaluate(QUESTIONS[:1], progress=False, ask_fn=FakeAsk())
    assert math.isnan(report.metrics["no_answer_accuracy"])
    assert report.to_dict()["metrics"]["no_answer_accuracy"] is None
    assert "n/a" in format_report(report)


def test_load_questions_bundled_set():
    qs = load_questions(sample_questions())
    assert len(qs) >= 80
    follow = [q for q in qs if q.turns]
    assert follow and all(isinstance(t, str) for q in follow for t in q.turns)


@pytest.mark.parametrize(
    "line, message",
    [
        ("not json", "line 2: not valid JSON"),
        ('{"question": "x", "answers": ["a"]}', 'line 2: "id"'),
        ('{"id": "b", "question": "", "answers": ["a"]}', 'line 2: "question"'),
        ('{"id": "b", "question": "x"}', "line 2: an answerable question needs"),
        ('{"id": "b", "question": "x", "answers": "a"}', 'line 2: "answers"'),
        ('{"id": "b", "question": "x", "answers": ["a"], "turns": "y"}', 'line 2: "turns"'),
        ('{"id": "b", "question": "x", "answers": ["a"], "lang": "fr"}', 'line 2: "lang"'),
        ('{"id": "a", "question": "x", "answers": ["a"]}', "line 2: duplicate id 'a' (first on line 1)"),
        ("[1, 2]", "line 2: expected a JSON object"),
    ],
)
def test_load_questions_rejects_bad_lines_with_line_numbers(tmp_path, line, message):
    path = tmp_path / "q.jsonl"
    path.write_text('{"id": "a", "question": "x", "answers": ["a"]}\n' + line + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_questions(path)


def test_load_questions_defaults_and_missing_file(tmp_path):
    path = tmp_path / "q.jsonl"
    path.write_text('\n{"id": "a", "question": "Who?", "answerable": false}\n', encoding="utf-8")
    (q,) = load_questions(path)
    assert (q.answerable, q.answers, q.turns, q.lang) == (False, (), (), "en")
    with pytest.raises(InputError, match="No question file"):
        load_questions(tmp_path / "missing.jsonl")


@pytest.mark.slow
def test_evaluate_real_ask_on_part_of_the_bundled_set(sample_index):
    questions = [q for q in load_questions(sample_questions()) if q.id.startswith("green")][:2]
    questions.append(next(q for q in load_questions(sample_questions()) if q.turns))
    report = evaluate(questions, index=sample_index, progress=False)
    assert len(report.questions) == 3
    assert report.metrics["article_hit@5"] >= 0.8
    assert all(r.error == "" for r in report.questions)
    followup = report.questions[-1]
    assert followup.resolved_question  # resolved against its turns
    json.dumps(report.to_dict(), ensure_ascii=False)
