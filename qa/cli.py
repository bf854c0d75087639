"""The `edition-qa` command: every subcommand is a thin call into the public API."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from qa.errors import InputError, QAError

# Nothing here may reach a model hub: the default model is materialized locally.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def _print_json(data: Any) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2))


def _write_json(path: str, data: Any) -> None:
    try:
        Path(path).write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        raise QAError(f"cannot write {path}: {exc.strerror}") from None


def _open_index(path: str | None, *, progress: bool):
    from qa.index import Index, default_index

    if path is None:
        return default_index(progress=progress)
    return Index.load(Path(path))


# ---- articles ---------------------------------------------------------------------------


def cmd_articles(args: argparse.Namespace) -> int:
    from qa.edition import format_articles, load_edition
    from qa.paths import sample_editions

    if args.path:
        articles = load_edition(Path(args.path), date=args.date, page=args.page)
    else:
        sample = sample_editions()[0]
        articles = load_edition(
            sample.path,
            date=args.date or sample.date,
            page=args.page if args.page is not None else sample.page,
        )
    if args.json:
        _print_json([a.to_dict() for a in articles])
    else:
        print(format_articles(articles))
    return 0


# ---- build / search ---------------------------------------------------------------------


def cmd_build(args: argparse.Namespace) -> int:
    from qa.index import Index
    from qa.paths import EditionFile, default_index_dir, sample_editions

    if args.path:
        if len(args.path) > 1 and (args.date or args.page is not None):
            raise QAError("--date and --page apply to a single PATH; give one edition file at a time")
        sources = [EditionFile(Path(p), args.date or "", args.page or 0) for p in args.path]
    else:
        sources = sample_editions()
    target = Path(args.index) if args.index else default_index_dir()
    started = time.perf_counter()
    index = Index.build(sources, model=args.model, progress=not args.quiet)
    index.save(target)
    seconds = time.perf_counter() - started
    counts = index.manifest["counts"]
    print(
        f"built {target}: {counts['editions']} edition page(s), {counts['articles']} items, "
        f"{counts['passages']} passages in {seconds:.1f} s (model {index.manifest['model']})"
    )
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    from qa.retrieve import retrieve

    index = _open_index(args.index, progress=not args.quiet)
    hits = retrieve(args.question, k=args.k, index=index, date=args.date, page=args.page)
    rows = [
        {
            "rank": h.rank,
            "score": round(h.score, 6),
            "dense": None if h.dense is None else round(h.dense, 6),
            "lexical": None if h.lexical is None else round(h.lexical, 6),
            "article_id": h.article.id,
            "headline": h.article.title,
            "date": h.article.date,
            "page": h.article.page,
            "passage": h.passage.text,
            "start": h.passage.start,
            "end": h.passage.end,
        }
        for h in hits
    ]
    if args.json:
        _print_json(rows)
        return 0
    if not rows:
        print("no passages found")
    for r in rows:
        dense = "-" if r["dense"] is None else f"{r['dense']:.3f}"
        lexical = "-" if r["lexical"] is None else f"{r['lexical']:.2f}"
        print(f"{r['rank']}. {r['headline']}  ({r['date']} p.{r['page']})  "
              f"score {r['score']:.4f}  dense {dense}  lexical {lexical}")
        print(f"   {r['passage']}")
    return 0


# ---- ask / chat -------------------------------------------------------------------------


def answer_json(answer) -> dict[str, Any]:
    """The CLI's JSON form of an Answer (flat citations, no retrieved hits)."""
    return {
        "question": answer.question,
        "resolved_question": answer.resolved_question,
        "short_answer": answer.short_answer,
        "no_answer": answer.no_answer,
        "confidence": round(answer.confidence, 4),
        "citations": [
            {
                "n": c.n,
                "article_id": c.article.id,
                "headline": c.article.title,
                "byline": list(c.article.byline),
                "date": c.article.date,
                "page": c.article.page,
                "extract": c.extract,
                "start": c.start,
                "end": c.end,
                "highlight": list(c.highlight) if c.highlight else None,
            }
            for c in answer.citations
        ],
    }


def format_answer(answer) -> str:
    """Plain-text rendering: short answer, then cited extracts with the span in 【】."""
    lines = []
    if answer.resolved_question != answer.question:
        lines.append(f"(understood as: {answer.resolved_question})")
    if answer.no_answer:
        lines.append("The edition does not answer this. Related reading:")
    elif answer.short_answer:
        lines.append(f"Answer: {answer.short_answer}")
    for c in answer.citations:
        text = c.extract
        if c.highlight and not answer.no_answer:
            s, e = c.highlight
            text = f"{text[:s]}【{text[s:e]}】{text[e:]}"
        byline = "，".join(c.article.byline)
        where = " · ".join(x for x in (c.article.title, byline, c.article.date, f"p.{c.article.page}") if x)
        lines.append(f"[{c.n}] {text}")
        lines.append(f"    — {where}")
    lines.append(f"confidence {answer.confidence:.2f}")
    return "\n".join(lines)


def cmd_ask(args: argparse.Namespace) -> int:
    from qa.answer import ask

    index = _open_index(args.index, progress=not args.quiet)
    answer = ask(args.question, index=index, k=args.k)
    if args.json:
        _print_json(answer_json(answer))
    else:
        print(format_answer(answer))
    return 0


def cmd_chat(args: argparse.Namespace) -> int:
    from qa.chat import Conversation

    index = _open_index(args.index, progress=not args.quiet)
    conversation = Conversation(index=index)
    interactive = sys.stdin.isatty()
    if interactive:
        print("Ask about the edition (Chinese or English). Empty line or Ctrl-D to quit.")
    while True:
        try:
            question = input("> " if interactive else "")
        except EOFError:
            break
        if not question.strip():
            if interactive:
                break
            continue
        try:
            print(format_answer(conversation.ask(question)))
        except QAError as exc:
            print(f"error: {exc}")
        print()
    return 0


# ---- eval / bench / serve ---------------------------------------------------------------


def cmd_eval(args: argparse.Namespace) -> int:
    from qa.evaluate import evaluate, format_report, load_questions
    from qa.paths import sample_questions

    questions = load_questions(Path(args.questions) if args.questions else sample_questions())
    index = _open_index(args.index, progress=not args.quiet)
    report = evaluate(questions, index=index, k=args.k, progress=not args.quiet)
    print(format_report(report, worst=args.worst))
    if args.json:
        _write_json(args.json, report.to_dict())
    return 0


def cmd_bench_embed(args: argparse.Namespace) -> int:
    from qa.embed import bench_embed

    result = bench_embed(model=args.model)
    for key, value in result.items():
        if isinstance(value, float):
            value = f"{value:.5f}" if "cosine" in key else f"{value:.2f}"
        print(f"{key:<28} {value}")
    return 0


def cmd_bench_squad(args: argparse.Namespace) -> int:
    from qa.benchmarks import bench_squad
    from qa.evaluate import format_report

    report = bench_squad(Path(args.file), limit=args.limit, k=args.k, progress=not args.quiet)
    print(format_report(report, worst=args.worst))
    if args.json:
        _write_json(args.json, report.to_dict())
    return 0


def cmd_bench_reader(args: argparse.Namespace) -> int:
    from qa.benchmarks import bench_reader

    report = bench_reader(args.file, limit=args.limit, whole=args.whole, precision=args.precision,
                          progress=not args.quiet)
    print(f"{report['questions']} questions, gold paragraph given ({report['mode']}, {args.precision})")
    print(f"EM {report['em']:.1f}  F1 {report['f1']:.1f}  (official CMRC 2018 metric)")
    print(f"{report['seconds']} s, reader {report['reader_tokens_per_s']} tokens/s")
    if args.json:
        _write_json(args.json, report)
    return 0


def _update_reader_config(values: dict[str, Any]) -> str:
    """Merge `values` into the reader's reader.json (atomically); returns its path."""
    from qa.reader import CONFIG_FILE, reader_folder

    path = reader_folder() / CONFIG_FILE
    config = json.loads(path.read_text(encoding="utf-8"))
    config.update(values)
    tmp = path.with_suffix(".json.tmp")
    _write_json(str(tmp), config)
    os.replace(tmp, path)
    return str(path)


def cmd_bench_length_prior(args: argparse.Namespace) -> int:
    from qa.benchmarks import bench_length_prior

    report = bench_length_prior(args.file, limit=args.limit, progress=not args.quiet)
    print(f"weight  fit EM/F1 ({report['fit_questions']} q)  check EM/F1 ({report['check_questions']} q)")
    for row in report["table"]:
        mark = "  <- chosen" if row["weight"] == report["weight"] else ""
        print(f"{row['weight']:<7} {row['fit_em']:5.1f} / {row['fit_f1']:4.1f}"
              f"          {row['check_em']:5.1f} / {row['check_f1']:4.1f}{mark}")
    if args.json:
        _write_json(args.json, report)
    if args.write:
        print(f"written to {_update_reader_config({'length_prior': report})}")
    return 0


def cmd_bench_calibrate(args: argparse.Namespace) -> int:
    from qa.benchmarks import bench_calibrate

    features = tuple(f.strip() for f in args.features.split(",") if f.strip()) if args.features else None
    report = bench_calibrate(args.file, limit=args.limit, max_false_no_answer=args.max_false_no_answer,
                             noise_from=args.noise_from, noise=args.noise, altered_numbers=args.altered_numbers,
                             features=features,
                             progress=not args.quiet)
    margins, labels, rows = report.pop("margins"), report.pop("labels"), report.pop("rows")
    for key, value in report.items():
        print(f"{key:<28} {value}")
    if args.json:
        _write_json(args.json, {**report, "margins": margins, "labels": labels, "rows": rows})
    if args.write:
        path = _update_reader_config({
            "no_answer": {k: report[k] for k in ("scale", "weights", "bias", "threshold") if k in report},
            "no_answer_fit": {k: v for k, v in report.items()
                              if k not in ("scale", "weights", "bias", "threshold")}})
        print(f"written to {path}")
    return 0


def cmd_bench_retrieval(args: argparse.Namespace) -> int:
    from qa.benchmarks import METHODS, bench_retrieval

    methods = [m.strip() for m in args.methods.split(",")] if args.methods else None
    unknown = [m for m in methods or [] if m not in METHODS]
    if unknown:
        raise InputError(f"Unknown method {unknown[0]!r}; known: {', '.join(METHODS)}.")
    report = bench_retrieval(args.file, chunk_size=args.chunk_size, limit=args.limit,
                             methods=methods, progress=not args.quiet)
    build = report.pop("build")
    print(f"{int(build['passages'])} passages, built in {build['seconds']:.1f} s")
    print(f"{'method':<28} {'R@1':>6} {'R@5':>6}")
    for name, row in report.items():
        print(f"{name:<28} {row['r1']:>6.4f} {row['r5']:>6.4f}")
    if args.json:
        _write_json(args.json, {"build": build, **report})
    return 0


def cmd_bench_rerank(args: argparse.Namespace) -> int:
    from qa.benchmarks import bench_rerank

    report = bench_rerank(args.file, folds=args.folds, limit=args.limit, progress=not args.quiet)
    for key, value in report.items():
        shown = json.dumps(value, ensure_ascii=False) if isinstance(value, dict) else (
            f"{value:.4f}" if isinstance(value, float) else value)
        print(f"{key:<16} {shown}")
    if args.json:
        _write_json(args.json, report)
    return 0


def cmd_train_reader(args: argparse.Namespace) -> int:
    from qa.training import TrainSettings, train_reader

    settings = TrainSettings(epochs=args.epochs, lr=args.lr, batch_size=args.batch_size,
                             first_trained=args.first_trained, seed=args.seed)
    summary = train_reader(args.train, args.out, settings=settings, budget_s=args.budget_hours * 3600,
                           work=args.work, limit=args.limit, precision=args.precision, progress=not args.quiet)
    done = "finished" if summary["finished"] else "stopped at the time budget (run again to resume)"
    if args.dev and summary["finished"]:
        from qa.benchmarks import bench_reader
        from qa.reader import CONFIG_FILE

        report = bench_reader(args.dev, limit=args.dev_limit, folder=args.out, progress=not args.quiet)
        path = Path(args.out) / CONFIG_FILE
        config = json.loads(path.read_text(encoding="utf-8"))
        config["dev"] = {"file": Path(args.dev).name, "questions": report["questions"],
                         "em": round(report["em"], 1), "f1": round(report["f1"], 1), "mode": report["mode"]}
        _write_json(str(path), config)
        print(f"dev {Path(args.dev).name}, {report['questions']} questions: "
              f"EM {report['em']:.1f}  F1 {report['f1']:.1f}  (official CMRC 2018 metric)")
    print(f"{summary['steps']}/{summary['total_steps']} steps, {done}; loss {summary['first_loss']:.3f} -> "
          f"{summary['final_loss']:.3f}; {summary['train_time_s']} s in all ({summary['precision']}); "
          f"weights in {args.out}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from qa.ui import serve

    serve(host=args.host, port=args.port, index_dir=Path(args.index) if args.index else None)
    return 0


# ---- parser -----------------------------------------------------------------------------


def _date(value: str) -> str:
    import datetime as dt

    try:
        return dt.date.fromisoformat(value).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {value!r}") from None


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `edition-qa` (exposed for tests and docs)."""
    parser = argparse.ArgumentParser(
        prog="edition-qa", description="Ask questions of a newspaper edition; answers are cited extracts."
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument(
        "--models", metavar="DIR", help="folder of materialized embedding models (default: the user cache)"
    )
    parser.add_argument("--reader", metavar="DIR", help="a trained reader folder (default: the shipped one)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("articles", help="parse an edition page and list its items")
    p.add_argument("path", nargs="?", help="edition .txt or .jsonl (default: the bundled sample)")
    p.add_argument("--date", type=_date)
    p.add_argument("--page", type=int)
    p.add_argument("--json", action="store_true", help="print a JSON array of articles")
    p.set_defaults(func=cmd_articles)

    p = sub.add_parser("build", help="build an index from edition files (default: the sample)")
    p.add_argument("path", nargs="*")
    p.add_argument("--index", metavar="DIR", help="index folder (default: index/default)")
    p.add_argument("--model", default="multilingual-e5-small", help="sentence-transformers model id or folder")
    p.add_argument("--date", type=_date)
    p.add_argument("--page", type=int)
    p.set_defaults(func=cmd_build)

    p = sub.add_parser("search", help="hybrid passage search")
    p.add_argument("question")
    p.add_argument("--k", type=int, default=5)
    p.add_argument("--index", metavar="DIR")
    p.add_argument("--date", type=_date)
    p.add_argument("--page", type=int)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("ask", help="answer a question with cited extracts")
    p.add_argument("question")
    p.add_argument("--k", type=int, default=5)
    p.add_argument("--index", metavar="DIR")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("chat", help="interactive questions with follow-ups")
    p.add_argument("--index", metavar="DIR")
    p.set_defaults(func=cmd_chat)

    p = sub.add_parser("eval", help="evaluate against a question set (default: the bundled one)")
    p.add_argument("--questions", metavar="FILE")
    p.add_argument("--index", metavar="DIR")
    p.add_argument("--k", type=int, default=5)
    p.add_argument("--worst", type=int, default=10, help="how many missed questions to list")
    p.add_argument("--json", metavar="OUT", help="write metrics and per-question results")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("bench", help="benchmarks")
    bench = p.add_subparsers(dest="bench", required=True, metavar="BENCH")
    b = bench.add_parser("embed", help="embedding speed, latency, load time and memory")
    b.add_argument("--model", default="multilingual-e5-small")
    b.set_defaults(func=cmd_bench_embed)
    b = bench.add_parser("squad", help="build a temporary index from a SQuAD-format file and evaluate")
    b.add_argument("file")
    b.add_argument("--limit", type=int)
    b.add_argument("--k", type=int, default=5)
    b.add_argument("--worst", type=int, default=10)
    b.add_argument("--json", metavar="OUT")
    b.set_defaults(func=cmd_bench_squad)
    b = bench.add_parser("reader", help="the reader alone, gold paragraph given: official CMRC EM/F1")
    b.add_argument("file")
    b.add_argument("--limit", type=int, help="only the first N answerable questions")
    b.add_argument("--whole", action="store_true", help="read each paragraph as one text, not as passages")
    b.add_argument("--precision", choices=("auto", "fp32", "bf16", "int8"), default="auto")
    b.add_argument("--json", metavar="OUT", help="write the figures and every question's prediction")
    b.set_defaults(func=cmd_bench_reader)
    b = bench.add_parser("length-prior", help="fit the reader's span length prior on a SQuAD-format file")
    b.add_argument("file")
    b.add_argument("--limit", type=int, help="only the first N answerable questions")
    b.add_argument("--write", action="store_true", help="store the chosen weight in the reader's reader.json")
    b.add_argument("--json", metavar="OUT", help="also write the whole table")
    b.set_defaults(func=cmd_bench_length_prior)
    b = bench.add_parser("calibrate", help="fit the reader's no-answer calibration on a SQuAD-format file")
    b.add_argument("file")
    b.add_argument("--limit", type=int, help="only N questions, spread over the file")
    b.add_argument("--max-false-no-answer", type=float, metavar="RATE",
                   help="threshold: the highest that answers all but RATE of the indexed questions "
                        "(default: the best balanced accuracy)")
    b.add_argument("--noise-from", metavar="FILE",
                   help="also ask noise questions made from this SQuAD-format file (e.g. CMRC train)")
    b.add_argument("--noise", type=int, default=300, help="how many noise questions (with --noise-from)")
    b.add_argument("--altered-numbers", action="store_true",
                   help="also ask each indexed question holding a number with that number changed")
    b.add_argument("--features", metavar="NAMES",
                   help="comma-separated features to weigh (default: margin; see qa.answer.ANSWER_FEATURES)")
    b.add_argument("--write", action="store_true", help="store the calibration in the reader's reader.json")
    b.add_argument("--json", metavar="OUT", help="also write every question's best margin and label")
    b.set_defaults(func=cmd_bench_calibrate)
    b = bench.add_parser("retrieval", help="passage R@1/R@5 of each fusion method on a SQuAD-format file")
    b.add_argument("file")
    b.add_argument("--chunk-size", type=int, help="passage size in chars (default: the index default)")
    b.add_argument("--limit", type=int, help="use only the first N answerable questions")
    b.add_argument("--methods", help="comma-separated subset of: dense, lexical, rrf, weighted, ...")
    b.add_argument("--json", metavar="OUT")
    b.set_defaults(func=cmd_bench_retrieval)
    b = bench.add_parser("rerank", help="fit and cross-validate the passage re-ranker on a SQuAD-format file")
    b.add_argument("file")
    b.add_argument("--folds", type=int, default=5)
    b.add_argument("--limit", type=int, help="use only the first N answerable questions")
    b.add_argument("--json", metavar="OUT")
    b.set_defaults(func=cmd_bench_rerank)

    p = sub.add_parser("train", help="train a model")
    train = p.add_subparsers(dest="train_what", required=True, metavar="MODEL")
    t = train.add_parser("reader", help="fine-tune the extractive reader on SQuAD-format files")
    t.add_argument("--train", nargs="+", required=True, metavar="FILE", help="SQuAD-format training files")
    t.add_argument("--out", required=True, metavar="DIR", help="where reader.json and reader.safetensors go")
    t.add_argument("--dev", metavar="FILE", help="SQuAD-format file to score the finished reader on")
    t.add_argument("--dev-limit", type=int, default=500, help="only the first N dev questions (default 500)")
    t.add_argument("--work", metavar="DIR", help="cache and checkpoints (default: OUT/work); resumes from it")
    t.add_argument("--epochs", type=float, default=2.0)
    t.add_argument("--lr", type=float, default=3e-4)
    t.add_argument("--batch-size", type=int, default=32)
    t.add_argument("--first-trained", type=int, default=6, help="blocks below this stay e5's own")
    t.add_argument("--seed", type=int, default=13)
    t.add_argument("--limit", type=int, help="use only the first N questions")
    t.add_argument("--budget-hours", type=float, default=4.0, help="stop (resumably) after this much time in all")
    t.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto")
    t.set_defaults(func=cmd_train_reader)

    p = sub.add_parser("serve", help="start the chat UI")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--index", metavar="DIR")
    p.set_defaults(func=cmd_serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: user errors become one line on stderr and exit code 1."""
    args = build_parser().parse_args(argv)
    if args.models:
        os.environ["EDITION_QA_MODELS"] = str(Path(args.models).expanduser().resolve())
    if args.reader:
        os.environ["EDITION_QA_READER"] = str(Path(args.reader).expanduser().resolve())
    try:
        return args.func(args)
    except QAError as exc:
        print(f"edition-qa: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("edition-qa: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
