"""The `edition-qa` command: output formats and one-line errors with exit code 1."""

from __future__ import annotations

import json

import pytest

from qa.app.cli import main


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_articles_json_lists_the_eight_items(capsys):
    code, out, err = run(capsys, "articles", "--json")
    assert code == 0 and err == ""
    items = json.loads(out)
    assert [i["kind"] for i in items] == ["article"] * 6 + ["photo", "brief"]
    assert items[0]["headline"] == "义乌绿色动力小镇通过省级命名验收"
    assert items[0]["byline"] == ["全媒体记者 王婷", "通讯员 金巧"]
    assert items[6]["photographer"] == "吕斌"
    assert all(i["date"] == "2020-11-14" and i["page"] == 1 for i in items)


def test_articles_table_has_one_row_per_item(capsys):
    code, out, _ = run(capsys, "articles")
    assert code == 0
    assert sum("我市2021少儿春节联欢晚会正式启动" in line for line in out.splitlines()) == 1
    assert "TOP50全球精品葡萄酒评选大赛举行" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["articles", "missing-file.txt"], "edition file not found"),
        (["search", "小镇", "--index", "no-such-index"], "edition-qa build --index"),
        (["ask", "小镇", "--index", "no-such-index"], "edition-qa build --index"),
        (["eval", "--questions", "no-such-questions.jsonl", "--index", "no-such-index"], "no-such"),
        (["train", "combine", "run0", "--out", "both"], "at least two trained readers"),
        (["train", "combine", "run0", "run1", "--out", "both"], "run0: no trained reader there"),
    ],
)
def test_user_errors_are_one_line_and_exit_1(capsys, tmp_path, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, *argv)
    assert code == 1
    assert out == ""
    assert err.startswith("edition-qa: error: ") and err.count("\n") == 1
    assert message in err
    assert "Traceback" not in err


def test_binary_and_gbk_files(capsys, tmp_path):
    binary = tmp_path / "page.txt"
    binary.write_bytes(bytes(range(256)) * 4)
    code, _, err = run(capsys, "articles", str(binary))
    assert code == 1 and err.count("\n") == 1
    gbk = tmp_path / "gbk.txt"
    gbk.write_bytes("▢ 本报记者 张三\n\n本报讯 义乌今日举行了一场活动，共有三百人参加。\n\n义乌举行活动\n".encode("gb18030"))
    code, out, _ = run(capsys, "articles", "--json", str(gbk), "--date", "2021-01-02", "--page", "3")
    assert code == 0
    (item,) = json.loads(out)
    assert "三百人" in item["body"] and item["date"] == "2021-01-02" and item["page"] == 3


def test_bad_date_is_rejected_by_the_parser(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["articles", "--date", "14/11/2020"])
    assert exc.value.code == 2
    assert "YYYY-MM-DD" in capsys.readouterr().err


@pytest.mark.slow
def test_search_and_ask_json(capsys, sample_index_dir):
    code, out, _ = run(capsys, "--quiet", "search", "植物园赛道有多长", "--index", str(sample_index_dir), "--json")
    assert code == 0
    rows = json.loads(out)
    assert rows and list(rows[0]) == ["rank", "score", "dense", "lexical", "article_id", "headline",
                                      "date", "page", "passage", "start", "end"]
    assert [r["rank"] for r in rows] == list(range(1, len(rows) + 1))
    assert rows[0]["headline"] == "2020年义乌国际半程马拉松今日开跑"

    code, out, _ = run(capsys, "--quiet", "ask", "义马的参赛人员来自多少个国家和地区？", "--index", str(sample_index_dir), "--json")
    assert code == 0
    answer = json.loads(out)
    assert list(answer) == ["question", "resolved_question", "reading", "short_answer", "english", "no_answer",
                            "confidence", "citations"]
    assert answer["no_answer"] is False
    first = answer["citations"][0]
    assert list(first) == ["n", "article_id", "headline", "byline", "date", "page", "extract", "start",
                           "end", "highlight"]
    assert first["headline"] == "2020年义乌国际半程马拉松今日开跑"
    s, e = first["highlight"]
    assert first["extract"][s:e] == "21个国家和地区"


@pytest.mark.slow
def test_ask_text_output_marks_the_span(capsys, sample_index_dir):
    code, out, _ = run(capsys, "--quiet", "ask", "义马的参赛人员来自多少个国家和地区？", "--index", str(sample_index_dir))
    assert code == 0
    assert out.splitlines()[0] == "Answer: 21个国家和地区"
    assert "【" in out and "— 2020年义乌国际半程马拉松今日开跑 · 全媒体记者 卢丽珍 · 2020-11-14 · p.1" in out


@pytest.mark.slow
def test_chat_reads_questions_from_stdin(capsys, monkeypatch, sample_index_dir):
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("义乌绿色动力小镇的规划面积是多少？\n它位于哪里？\n"))
    code, out, _ = run(capsys, "--quiet", "chat", "--index", str(sample_index_dir))
    assert code == 0
    assert "3.32" in out
    assert "(understood as:" in out


def test_bench_rerank_prints_and_writes_its_report(capsys, tmp_path, embedder):
    from pathlib import Path

    fixture = Path(__file__).parents[1] / "data" / "squad_small.json"
    out_file = tmp_path / "rerank.json"
    code, out, _ = run(capsys, "--quiet", "bench", "rerank", str(fixture), "--folds", "2",
                       "--json", str(out_file))
    assert code == 0
    assert "cv_r1" in out and "fitted_weights" in out
    report = json.loads(out_file.read_text(encoding="utf-8"))
    assert report["questions"] > 0 and set(report["fitted_weights"]) == {"fused", "coverage", "sentence_coverage"}


def test_bench_retrieval_table_and_unknown_method(capsys, tmp_path):
    from pathlib import Path

    fixture = str(Path(__file__).parents[1] / "data" / "squad_small.json")
    code, out, _ = run(capsys, "--quiet", "bench", "retrieval", fixture, "--methods", "lexical,weighted",
                       "--json", str(tmp_path / "r.json"))
    assert code == 0 and "lexical" in out and "weighted" in out and "R@1" in out
    assert set(json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))) == {"build", "lexical", "weighted"}
    code, out, err = run(capsys, "bench", "retrieval", fixture, "--methods", "bm42")
    assert code == 1 and "Unknown method 'bm42'" in err and err.count("\n") == 1


def test_bench_gloss_writes_a_copy_and_refuses_options_of_the_other_kind(capsys, tmp_path):
    from pathlib import Path

    fixture = str(Path(__file__).parents[1] / "data" / "squad_small.json")
    out_file = tmp_path / "g.json"
    code, out, _ = run(capsys, "bench", "gloss", fixture, "--out", str(out_file), "--fronted", "1")
    assert code == 0 and "in English order" in out and out_file.is_file()
    for argv in (["--part", "B"], ["--glossed-every", "2"]):
        code, _, err = run(capsys, "bench", "gloss", fixture, "--out", str(out_file), *argv)
        assert code == 1 and "give --written too" in err and err.count("\n") == 1
    code, _, err = run(capsys, "bench", "gloss", fixture, "--out", str(out_file), "--written", "--fronted", "0.5")
    assert code == 1 and "leave them out with --written" in err


# ---- add / editions / remove (hash embedder stand-in, fixed clock) ----------------------


@pytest.fixture
def archive_cli(monkeypatch, hash_embedder):
    """The CLI with the hash embedder for every model and every page added at 2024-05-01 08:00 UTC."""
    import time
    import types

    import qa.models.embed
    import qa.store.sqlite

    monkeypatch.setattr(qa.models.embed, "get_embedder", lambda model=None: hash_embedder)
    fixed = types.SimpleNamespace(strftime=time.strftime, gmtime=lambda *a: time.gmtime(1714550400))
    monkeypatch.setattr(qa.store.sqlite, "time", fixed)


def _saved_line(out: str) -> tuple[str, str]:
    """The output without the timing of its last line ("... in 0.3 s")."""
    body, last = out.rstrip("\n").rsplit("\n", 1) if "\n" in out.rstrip("\n") else ("", out.rstrip("\n"))
    return body, last.rsplit(" in ", 1)[0]


def test_add_editions_remove(capsys, tmp_path, archive_cli):
    import shutil

    from qa.paths import sample_editions

    sample = sample_editions()[0].path
    folder = tmp_path / "in" / "2020" / "11"
    folder.mkdir(parents=True)
    for date, page in (("2020-11-15", 2), ("2020-11-15", 3), ("2020-11-16", 1)):
        shutil.copyfile(sample, folder / f"edition-{date}-p{page:02d}.txt")
    (tmp_path / "in" / "bad.jsonl").write_text("{oops\n", encoding="utf-8")
    index = str(tmp_path / "idx")

    code, out, err = run(capsys, "--quiet", "add", str(sample), "--index", index)
    assert code == 0 and err == ""
    assert _saved_line(out) == (
        "added      2020-11-14 p.1  8 items, 33 passages (33 embedded)  edition-2020-11-14-p01.txt",
        f"saved {index}: 1 edition page(s), 8 items, 33 passages (generation 1)")

    code, out, err = run(capsys, "--quiet", "add", str(sample), str(tmp_path / "in"), "--index", index)
    assert code == 1
    assert err == "edition-qa: error: bad.jsonl line 1: not valid JSON (Expecting property name enclosed " \
                  "in double quotes: line 1 column 2 (char 1))\n"
    assert _saved_line(out) == (
        "unchanged  2020-11-14 p.1  edition-2020-11-14-p01.txt\n"
        "added      2020-11-15 p.2  8 items, 33 passages (33 embedded)  edition-2020-11-15-p02.txt\n"
        "added      2020-11-15 p.3  8 items, 33 passages (33 embedded)  edition-2020-11-15-p03.txt\n"
        "added      2020-11-16 p.1  8 items, 33 passages (33 embedded)  edition-2020-11-16-p01.txt",
        f"saved {index}: 4 edition page(s), 32 items, 132 passages (generation 2)")

    code, out, err = run(capsys, "add", str(sample), "--index", index)
    assert (code, out, err) == (0, "unchanged  2020-11-14 p.1  edition-2020-11-14-p01.txt\n"
                                   f"no changes: {index} left as it was\n", "")

    code, out, _ = run(capsys, "editions", "--index", index)
    assert code == 0 and out == (
        "date        pages       articles  passages  added\n"
        "2020-11-14  1                  8        33  2024-05-01T08:00:00Z\n"
        "2020-11-15  2-3               16        66  2024-05-01T08:00:00Z\n"
        "2020-11-16  1                  8        33  2024-05-01T08:00:00Z\n"
        "3 date(s), 4 page(s), 32 items, 132 passages\n")

    code, out, err = run(capsys, "remove", "--date", "2020-11-15", "--page", "2", "--index", index)
    assert (code, out, err) == (0, f"removed 2020-11-15 page 2 (1 page(s)) from {index}\n", "")
    code, out, _ = run(capsys, "editions", "--index", index, "--json")
    assert json.loads(out) == [
        {"date": "2020-11-14", "pages": [1], "articles": 8, "passages": 33, "added": "2024-05-01T08:00:00Z"},
        {"date": "2020-11-15", "pages": [3], "articles": 8, "passages": 33, "added": "2024-05-01T08:00:00Z"},
        {"date": "2020-11-16", "pages": [1], "articles": 8, "passages": 33, "added": "2024-05-01T08:00:00Z"},
    ]
    code, out, err = run(capsys, "remove", "--date", "2021-01-01", "--index", index)
    assert code == 1 and out == "" and err.count("\n") == 1 and "no edition 2021-01-01" in err


def test_editions_of_a_missing_index_is_one_line(capsys, tmp_path):
    code, out, err = run(capsys, "editions", "--index", str(tmp_path / "none"))
    assert code == 1 and out == "" and err.count("\n") == 1 and "No index at" in err


def test_search_date_range(capsys, tmp_path, archive_cli):
    import shutil

    from qa.paths import sample_editions

    sample = sample_editions()[0].path
    for date in ("2020-11-15", "2020-11-20", "2020-12-01"):
        shutil.copyfile(sample, tmp_path / f"edition-{date}-p01.txt")
    index = str(tmp_path / "idx")
    assert run(capsys, "--quiet", "add", str(tmp_path), "--index", index)[0] == 0
    code, out, err = run(capsys, "search", "美国馆的面积", "--k", "20", "--index", index, "--json",
                         "--since", "2020-11-16", "--until", "2020-11-30")
    assert code == 0 and err == ""
    assert {r["date"] for r in json.loads(out)} == {"2020-11-20"}
    code, out, err = run(capsys, "search", "美国馆", "--index", index, "--since", "2020-12-02", "--until", "2020-11-01")
    assert code == 1 and out == "" and err == ("edition-qa: error: the date range is empty: since 2020-12-02 "
                                               "is after until 2020-11-01\n")
