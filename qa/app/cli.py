"""The `edition-qa` command: every subcommand is a thin call into the public API."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Sequence

from qa.app.cli_archive import add_archive_parsers
from qa.app.cli_bench import add_bench_parsers
from qa.app.cli_train import add_train_parsers
from qa.app.output import iso_date, print_json, write_json
from qa.app.render import answer_json, format_answer
from qa.errors import QAError

# Nothing here may reach a model hub: the default model is materialized locally.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def _open_index(path: str | None, *, progress: bool):
    from qa.store.location import load

    return load(path, progress=progress)  # a folder or a Milvus URI (qa.store.location)


# ---- articles ---------------------------------------------------------------------------


def cmd_articles(args: argparse.Namespace) -> int:
    from qa.editions.parse import format_articles, load_edition
    from qa.paths import sample_editions

    if args.path:
        articles = load_edition(Path(args.path), date=args.date, page=args.page, progress=not args.quiet)
    else:
        sample = sample_editions()[0]
        articles = load_edition(
            sample.path,
            date=args.date or sample.date,
            page=args.page if args.page is not None else sample.page,
        )
    if args.json:
        print_json([a.to_dict() for a in articles])
    else:
        print(format_articles(articles))
    return 0


# ---- build / search ---------------------------------------------------------------------


def cmd_build(args: argparse.Namespace) -> int:
    from qa.paths import EditionFile, default_index_dir, sample_editions
    from qa.store.folder import writer_lock
    from qa.store.index import Index
    from qa.store.location import parse_location, write_index

    if args.path:
        if len(args.path) > 1 and (args.date or args.page is not None):
            raise QAError("--date and --page apply to a single PATH; give one edition file at a time")
        sources = [EditionFile(Path(p), args.date or "", args.page or 0) for p in args.path]
    else:
        sources = sample_editions()
    target = parse_location(args.index or os.environ.get("EDITION_QA_INDEX") or default_index_dir())
    started = time.perf_counter()
    index = Index.build(sources, model=args.model, progress=not args.quiet)
    if target.is_milvus:
        shown = write_index(index, target, progress=not args.quiet)  # no token shown
    else:
        with writer_lock(Path(target.target)):  # an `add` running meanwhile waits, then adds to the new index
            shown = write_index(index, target, progress=not args.quiet)
    seconds = time.perf_counter() - started
    counts = index.manifest["counts"]
    print(
        f"built {shown}: {counts['editions']} edition page(s), {counts['articles']} items, "
        f"{counts['passages']} passages in {seconds:.1f} s (model {index.manifest['model']})"
    )
    return 0


def cmd_upgrade(args: argparse.Namespace) -> int:
    from qa.paths import default_index_dir
    from qa.store.upgrade import upgrade_folder

    folder = Path(args.index or os.environ.get("EDITION_QA_INDEX") or default_index_dir())
    counts = upgrade_folder(folder)
    print(f"upgraded {folder} to index format 2: {counts['editions']} edition page(s), "
          f"{counts['passages']} passages, vectors kept")
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    from qa.search.retrieve import retrieve

    index = _open_index(args.index, progress=not args.quiet)
    hits = retrieve(args.question, k=args.k, index=index, date=args.date, page=args.page,
                    since=args.since, until=args.until)
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
        print_json(rows)
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


def cmd_ask(args: argparse.Namespace) -> int:
    from qa.answers.ask import ask

    index = _open_index(args.index, progress=not args.quiet)
    answer = ask(args.question, index=index, k=args.k, date=args.date, page=args.page,
                 since=args.since, until=args.until)
    if args.json:
        print_json(answer_json(answer))
    else:
        print(format_answer(answer))
    return 0


def cmd_chat(args: argparse.Namespace) -> int:
    from qa.answers.conversation import Conversation

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


# ---- eval / serve ---------------------------------------------------------------


def cmd_eval(args: argparse.Namespace) -> int:
    from qa.evaluation.evaluate import evaluate, format_report
    from qa.evaluation.questions import load_questions
    from qa.paths import sample_questions

    questions = load_questions(Path(args.questions) if args.questions else sample_questions())
    index = _open_index(args.index, progress=not args.quiet)
    report = evaluate(questions, index=index, k=args.k, progress=not args.quiet)
    print(format_report(report, worst=args.worst))
    if args.json:
        write_json(args.json, report.to_dict())
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from qa.app.ui import serve

    serve(host=args.host, port=args.port, index_dir=args.index, read_only=args.read_only)
    return 0


def cmd_copy(args: argparse.Namespace) -> int:
    from qa.store.location import copy_index, parse_location

    counts = copy_index(args.src, args.dst, progress=not args.quiet)
    print(f"copied {parse_location(args.src).display} -> {parse_location(args.dst).display}: "
          f"{counts['editions']} edition page(s), {counts['articles']} items, {counts['passages']} passages "
          "(vectors copied, nothing re-embedded)")
    return 0


# ---- parser -----------------------------------------------------------------------------


def _filters(p: argparse.ArgumentParser) -> None:
    p.add_argument("--date", type=iso_date, help="only this edition date")
    p.add_argument("--page", type=int, help="only this page")
    p.add_argument("--since", type=iso_date, help="only editions of this date or later")
    p.add_argument("--until", type=iso_date, help="only editions of this date or earlier")


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
    parser.add_argument("--milvus-token", metavar="TOKEN",
                        help="token of a Milvus server index (also EDITION_QA_MILVUS_TOKEN; never printed)")
    parser.add_argument("--milvus-db", metavar="NAME", help="Milvus database (also EDITION_QA_MILVUS_DB)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("articles", help="parse an edition page and list its items")
    p.add_argument("path", nargs="?", help="edition .txt, .jsonl, .pdf or page scan .png/.jpg/.tif (default: the bundled sample)")
    p.add_argument("--date", type=iso_date)
    p.add_argument("--page", type=int)
    p.add_argument("--json", action="store_true", help="print a JSON array of articles")
    p.set_defaults(func=cmd_articles)

    p = sub.add_parser("build", help="build an index from edition files (default: the sample)")
    p.add_argument("path", nargs="*")
    p.add_argument("--index", metavar="DIR|URI", help="index folder or Milvus URI (default: index/default)")
    p.add_argument("--model", default="multilingual-e5-small", help="sentence-transformers model id or folder")
    p.add_argument("--date", type=iso_date)
    p.add_argument("--page", type=int)
    p.set_defaults(func=cmd_build)

    add_archive_parsers(sub)

    p = sub.add_parser("search", help="hybrid passage search")
    p.add_argument("question")
    p.add_argument("--k", type=int, default=5)
    p.add_argument("--index", metavar="DIR|URI")
    _filters(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("ask", help="answer a question with cited extracts")
    p.add_argument("question")
    p.add_argument("--k", type=int, default=5)
    p.add_argument("--index", metavar="DIR|URI")
    _filters(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("chat", help="interactive questions with follow-ups")
    p.add_argument("--index", metavar="DIR|URI")
    p.set_defaults(func=cmd_chat)

    p = sub.add_parser("eval", help="evaluate against a question set (default: the bundled one)")
    p.add_argument("--questions", metavar="FILE")
    p.add_argument("--index", metavar="DIR|URI")
    p.add_argument("--k", type=int, default=5)
    p.add_argument("--worst", type=int, default=10, help="how many missed questions to list")
    p.add_argument("--json", metavar="OUT", help="write metrics and per-question results")
    p.set_defaults(func=cmd_eval)

    add_bench_parsers(sub)
    add_train_parsers(sub)

    p = sub.add_parser("serve", help="start the chat UI")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--index", metavar="DIR|URI")
    p.add_argument("--read-only", action="store_true", help="no adding editions from the UI or the API")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("upgrade", help="convert an index folder of format 1 to format 2, without re-embedding")
    p.add_argument("--index", metavar="DIR")
    p.set_defaults(func=cmd_upgrade)

    p = sub.add_parser("copy", help="copy an index between folders and Milvus, without re-embedding")
    p.add_argument("src", help="index folder or Milvus URI")
    p.add_argument("dst", help="index folder or Milvus URI (replaced atomically)")
    p.set_defaults(func=cmd_copy)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: user errors become one line on stderr and exit code 1."""
    args = build_parser().parse_args(argv)
    if args.models:
        os.environ["EDITION_QA_MODELS"] = str(Path(args.models).expanduser().resolve())
    if args.reader:
        os.environ["EDITION_QA_READER"] = str(Path(args.reader).expanduser().resolve())
    if args.milvus_token:
        os.environ["EDITION_QA_MILVUS_TOKEN"] = args.milvus_token
    if args.milvus_db:
        os.environ["EDITION_QA_MILVUS_DB"] = args.milvus_db
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
