"""The bundled question set: well formed, every gold answer printed in the sample edition."""

from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter

import pytest

from qa.paths import sample_editions, sample_questions


def _compact(text: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))


def _questions() -> list[dict]:
    lines = sample_questions().read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def test_ids_unique_and_fields_valid():
    qs = _questions()
    ids = Counter(q["id"] for q in qs)
    assert [i for i, n in ids.items() if n > 1] == []
    for q in qs:
        assert set(q) <= {"id", "question", "answers", "answerable", "turns", "lang"}, q["id"]
        assert q["question"].strip(), q["id"]
        assert q["lang"] in ("zh", "en"), q["id"]
        if q.get("answerable", True):
            assert q["answers"], q["id"]
        else:
            assert q["answers"] == [], q["id"]
        assert all(isinstance(t, str) and t.strip() for t in q.get("turns", [])), q["id"]


def test_counts_meet_the_brief():
    qs = _questions()
    assert len(qs) >= 80
    assert sum(not q.get("answerable", True) for q in qs) >= 10
    assert sum(q["lang"] == "en" for q in qs) >= 10
    assert sum(bool(q.get("turns")) for q in qs) >= 8
    # One id prefix per item of the page: 6 articles, the photo, the brief.
    topics = {q["id"].split("-")[0] for q in qs if q.get("answerable", True)}
    assert topics == {"green", "health", "marathon", "bank", "us", "wine", "photo", "brief"}


def test_every_gold_answer_is_printed_in_the_sample_edition():
    (edition,) = [e for e in sample_editions() if e.date == "2020-11-14"]
    page = _compact(edition.path.read_text(encoding="utf-8"))
    missing = [(q["id"], a) for q in _questions() for a in q["answers"] if _compact(a) not in page]
    assert missing == []


def test_each_gold_answer_points_to_one_item_and_some_passage():
    """Retrieval metrics are only meaningful when a gold answer singles out its article."""
    edition = pytest.importorskip("qa.editions.parse")
    from qa.editions.chunk import chunk_article
    from qa.evaluation.evaluate import article_text
    from qa.evaluation.metrics import contains_gold
    from qa.evaluation.questions import load_questions

    (ed,) = [e for e in sample_editions() if e.date == "2020-11-14"]
    articles = edition.load_edition(ed.path, date=ed.date, page=ed.page)
    assert len(articles) == 8
    passages = [(a, p) for a in articles for p in chunk_article(a)]
    problems = []
    for q in load_questions(sample_questions()):
        if not q.answerable:
            continue
        owners = [a.title for a in articles if contains_gold(article_text(a), q.answers)]
        in_passage = any(contains_gold(p.text or a.title, q.answers) for a, p in passages)
        if len(owners) != 1 or not in_passage:
            problems.append((q.id, owners, in_passage))
    assert problems == []
