"""The `edition-qa bench ...` commands: quality, speed and load measurements."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from qa.app.output import write_json
from qa.errors import InputError
from qa.models.reader import update_config

__all__ = ["add_bench_parsers"]


def cmd_bench_embed(args: argparse.Namespace) -> int:
    from qa.evaluation.speed import bench_embed

    result = bench_embed(model=args.model)
    for key, value in result.items():
        if isinstance(value, float):
            value = f"{value:.5f}" if "cosine" in key else f"{value:.2f}"
        print(f"{key:<28} {value}")
    return 0


def cmd_bench_speed(args: argparse.Namespace) -> int:
    from qa.evaluation.stages import STAGES, bench_speed
    from qa.store.location import load

    result = bench_speed(index=load(args.index, progress=not args.quiet), repeat=args.repeat)
    print(f"CPU {result['cpu']} ({result['isa']}, {result['threads']} threads); embedder {result['embedder']}, "
          f"reader {result['reader']}")
    parts = [k for k in ("all", "zh", "en") if k in result]
    heads = [f"{k} ({result[k]['questions']})" for k in parts]
    print(f"{'ms per ask':<22}" + "".join(f"{h:>12}" for h in heads))
    print(f"{'p50':<22}" + "".join(f"{result[k]['p50_ms']:>12.1f}" for k in parts))
    print(f"{'mean':<22}" + "".join(f"{result[k]['mean_ms']:>12.1f}" for k in parts))
    for stage in STAGES:
        print(f"{'  ' + stage:<22}" + "".join(f"{result[k]['stages_ms'][stage]:>12.1f}" for k in parts))
    print(f"{'first passage alone':<22}" + "".join(f"{result[k]['first_passage_alone']:>12.2f}" for k in parts))
    if args.json:
        write_json(args.json, result)
    return 0


def cmd_bench_squad(args: argparse.Namespace) -> int:
    from qa.evaluation.benchmarks import bench_squad
    from qa.evaluation.evaluate import format_report

    report = bench_squad(Path(args.file), limit=args.limit, k=args.k, progress=not args.quiet,
                         index_uri=args.index_uri)
    print(format_report(report, worst=args.worst))
    if args.json:
        write_json(args.json, report.to_dict())
    return 0


def cmd_bench_followups(args: argparse.Namespace) -> int:
    from qa.evaluation.followups import bench_followups, format_followups

    report = bench_followups(args.file, squad=args.squad, paragraphs=args.paragraphs,
                             rules_only=args.rules_only, progress=not args.quiet)
    print(format_followups(report))
    if args.json:
        write_json(args.json, report)
    return 0


def cmd_bench_reader(args: argparse.Namespace) -> int:
    from qa.evaluation.benchmarks import bench_reader

    report = bench_reader(args.file, limit=args.limit, whole=args.whole, precision=args.precision,
                          progress=not args.quiet, terms=args.english == "terms")
    print(f"{report['questions']} questions, gold paragraph given ({report['mode']}, {args.precision})")
    print(f"EM {report['em']:.1f}  F1 {report['f1']:.1f}  (official CMRC 2018 metric)")
    print(f"{report['seconds']} s, reader {report['reader_tokens_per_s']} tokens/s")
    if args.json:
        write_json(args.json, report)
    return 0


def cmd_bench_length_prior(args: argparse.Namespace) -> int:
    from qa.evaluation.benchmarks import bench_length_prior

    report = bench_length_prior(args.file, limit=args.limit, progress=not args.quiet)
    print(f"weight  fit EM/F1 ({report['fit_questions']} q)  check EM/F1 ({report['check_questions']} q)")
    for row in report["table"]:
        mark = "  <- chosen" if row["weight"] == report["weight"] else ""
        print(f"{row['weight']:<7} {row['fit_em']:5.1f} / {row['fit_f1']:4.1f}"
              f"          {row['check_em']:5.1f} / {row['check_f1']:4.1f}{mark}")
    if args.json:
        write_json(args.json, report)
    if args.write:
        print(f"written to {update_config({'length_prior': report})}")
    return 0


def cmd_bench_retrieval_weight(args: argparse.Namespace) -> int:
    from qa.evaluation.weighting import bench_retrieval_weight

    report = bench_retrieval_weight(args.file, limit=args.limit, progress=not args.quiet)
    print(f"read weight  fit EM/F1 p@1 e@1 ({report['fit_questions']} q)   "
          f"check EM/F1 p@1 e@1 ({report['check_questions']} q)")
    for row in report["table"]:
        mark = "  <- chosen" if row["read"] == report["read"] and row["weight"] == report["weight"] else ""
        print(f"{row['read']:<4} {row['weight']:<6} " + "   ".join(
            f"{row[h + '_em']:5.1f} / {row[h + '_f1']:4.1f} {row[h + '_passage_hit@1']:.3f} {row[h + '_extract_hit@1']:.3f}"
            for h in ("fit", "check")) + mark)
    if args.json:
        write_json(args.json, report)
    if args.write:
        print(f"written to {update_config({'retrieval_weight': report})}")
    return 0


def cmd_bench_first_passage(args: argparse.Namespace) -> int:
    from qa.evaluation.first_passage import bench_first_passage

    report = bench_first_passage(args.file, limit=args.limit, progress=not args.quiet)
    print(f"rank   fit EM/F1 (all read) alone changed ({report['fit_questions']} q)   "
          f"check EM/F1 (all read) alone changed ({report['check_questions']} q)")
    for row in report["table"]:
        mark = "  <- chosen" if row["rank"] == report["rank"] else ""
        print(f"{row['rank']:<6} " + "   ".join(
            f"{row[h + '_em']:5.2f} / {row[h + '_f1']:5.2f} ({row[h + '_em_all']:5.2f} / {row[h + '_f1_all']:5.2f}) "
            f"{row[h + '_first_alone']:.3f} {row[h + '_changed']:>4}" for h in ("fit", "check")) + mark)
    if args.json:
        write_json(args.json, report)
    if args.write:
        print(f"written to {update_config({'first_passage': report})}")
    return 0


def cmd_bench_calibrate(args: argparse.Namespace) -> int:
    from qa.evaluation.calibration import bench_calibrate

    features = tuple(f.strip() for f in args.features.split(",") if f.strip()) if args.features else None
    report = bench_calibrate(args.file, limit=args.limit, max_false_no_answer=args.max_false_no_answer,
                             noise_from=args.noise_from, noise=args.noise, altered_numbers=args.altered_numbers,
                             features=features, answerable=args.answerable, progress=not args.quiet)
    margins, labels, rows, right = report.pop("margins"), report.pop("labels"), report.pop("rows"), report.pop("right")
    for key, value in report.items():
        print(f"{key:<28} {value}")
    if args.json:
        write_json(args.json, {**report, "margins": margins, "labels": labels, "right": right, "rows": rows})
    if args.write:
        fitted = ("scale", "weights", "bias", "threshold")
        key = "no_answer_en" if args.lang == "en" else "no_answer"
        path = update_config({key: {k: report[k] for k in fitted if k in report},
                              f"{key}_fit": {k: v for k, v in report.items() if k not in fitted}})
        print(f"written to {path}")
    return 0


def cmd_bench_gloss(args: argparse.Namespace) -> int:
    from qa.language.glossed import WRITTEN, gloss_squad, written_squad

    if args.written is None and (args.part or args.glossed_every):
        raise InputError("--part and --glossed-every choose written questions: give --written too")
    if args.written is not None and (args.reading or args.fronted or args.share != "1.0"):
        raise InputError("--share, --reading and --fronted gloss questions: leave them out with --written")
    if args.written is not None:
        written = args.written or WRITTEN
        report = written_squad(args.file, args.out, written, part=args.part, glossed_every=args.glossed_every)
        also = f" and {report['glossed']} glossed" if report["glossed"] else ""
        print(f"{report['questions']} questions as written in {written}{also} -> {report['out']}")
        return 0

    try:
        shares = tuple(float(v) for v in args.share.split(","))
    except ValueError:
        raise InputError(f"--share takes numbers in (0, 1], comma-separated, not {args.share!r}") from None
    report = gloss_squad(args.file, args.out, share=shares, seed=args.seed, reading=args.reading,
                         fronted=args.fronted)
    print(f"{report['questions']} questions glossed ({report['wholly_english']} with no Chinese left, "
          f"share {report['share']}, {report['fronted']} in English order, {report['read_form']} in reading form)"
          f" -> {report['out']}")
    return 0


def cmd_bench_retrieval(args: argparse.Namespace) -> int:
    from qa.evaluation.benchmarks import METHODS, bench_retrieval

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
        write_json(args.json, {"build": build, **report})
    return 0


def cmd_bench_rerank(args: argparse.Namespace) -> int:
    from qa.evaluation.benchmarks import bench_rerank

    report = bench_rerank(args.file, folds=args.folds, limit=args.limit, progress=not args.quiet)
    for key, value in report.items():
        shown = json.dumps(value, ensure_ascii=False) if isinstance(value, dict) else (
            f"{value:.4f}" if isinstance(value, float) else value)
        print(f"{key:<16} {shown}")
    if args.json:
        write_json(args.json, report)
    return 0


def cmd_bench_scale(args: argparse.Namespace) -> int:
    from qa.evaluation.scale import bench_scale, format_scale

    report = bench_scale(args.passages, work=Path(args.work), sources=[Path(s) for s in args.source or []],
                         pool_size=args.pool, progress=not args.quiet)
    print(format_scale(report))
    if args.json:
        write_json(args.json, report)
    return 0


def cmd_bench_load(args: argparse.Namespace) -> int:
    import sys

    from qa.evaluation.load import bench_load, format_load

    say = None if args.quiet else (lambda text: print(text, file=sys.stderr, flush=True))
    report = bench_load(clients=args.clients, seconds=args.seconds, index_dir=args.index, add=args.add,
                        milvus=args.milvus_lite, say=say)
    print(format_load(report))
    if args.json:
        write_json(args.json, report)
    return 0 if report["errors"] == 0 and report["answerable_at_end"] else 1


def cmd_bench_ocr(args: argparse.Namespace) -> int:
    from qa.evaluation.ocr_quality import bench_ocr, format_ocr_report

    report = bench_ocr(questions=not args.no_questions, tesseract=args.tesseract, save=args.save,
                       progress=not args.quiet)
    print(format_ocr_report(report))
    if args.json:
        write_json(args.json, report)
    return 0


def add_bench_parsers(sub: Any) -> None:
    """Add the `bench` command to the `edition-qa` subparsers."""
    p = sub.add_parser("bench", help="benchmarks")
    bench = p.add_subparsers(dest="bench", required=True, metavar="BENCH")
    b = bench.add_parser("embed", help="embedding speed, latency, load time and memory")
    b.add_argument("--model", default="multilingual-e5-small")
    b.set_defaults(func=cmd_bench_embed)
    b = bench.add_parser("speed", help="where the time of one ask goes on this CPU (bundled questions)")
    b.add_argument("--index", metavar="DIR|URI", help="index folder or Milvus URI (default: index/default)")
    b.add_argument("--repeat", type=int, default=1, help="ask every question this many times")
    b.add_argument("--json", metavar="OUT", help="also write the figures")
    b.set_defaults(func=cmd_bench_speed)
    b = bench.add_parser("squad", help="build a temporary index from a SQuAD-format file and evaluate")
    b.add_argument("file")
    b.add_argument("--limit", type=int)
    b.add_argument("--k", type=int, default=5)
    b.add_argument("--worst", type=int, default=10)
    b.add_argument("--json", metavar="OUT")
    b.add_argument("--index-uri", metavar="URI", help="write the index there (e.g. milvus:///tmp/b.db) and ask through it")
    b.set_defaults(func=cmd_bench_squad)
    b = bench.add_parser("ocr", help="the sample page laid out as a scan, clean and degraded: OCR error "
                         "rate, items found, bundled questions over the OCR'd index")
    b.add_argument("--no-questions", action="store_true", help="skip the questions (no embedding model needed)")
    b.add_argument("--tesseract", action="store_true", help="also read the pages with Tesseract (chi_sim)")
    b.add_argument("--save", metavar="DIR", help="write the rendered pages and the printed text here")
    b.add_argument("--json", metavar="OUT")
    b.set_defaults(func=cmd_bench_ocr)
    b = bench.add_parser("followups", help="two-turn conversations: resolved questions on topic, answer F1")
    b.add_argument("file", help="JSONL follow-up set (turns, answers, topic per line)")
    b.add_argument("--squad", metavar="FILE", help="index the first --paragraphs paragraphs of this SQuAD-format "
                   "file and ask them (default: the sample index)")
    b.add_argument("--paragraphs", type=int, default=100)
    b.add_argument("--rules-only", action="store_true", help="resolve follow-ups by the rules alone (baseline)")
    b.add_argument("--json", metavar="OUT")
    b.set_defaults(func=cmd_bench_followups)
    b = bench.add_parser("reader", help="the reader alone, gold paragraph given: official CMRC EM/F1")
    b.add_argument("file")
    b.add_argument("--limit", type=int, help="only the first N answerable questions")
    b.add_argument("--whole", action="store_true", help="read each paragraph as one text, not as passages")
    b.add_argument("--precision", choices=("auto", "fp32", "bf16", "int8"), default="auto")
    b.add_argument("--english", choices=("terms", "asked"), default="terms",
                   help="read English questions with their dictionary terms, as ask does (default), or as asked")
    b.add_argument("--json", metavar="OUT", help="write the figures and every question's prediction")
    b.set_defaults(func=cmd_bench_reader)
    b = bench.add_parser("length-prior", help="fit the reader's span length prior on a SQuAD-format file")
    b.add_argument("file")
    b.add_argument("--limit", type=int, help="only the first N answerable questions")
    b.add_argument("--write", action="store_true", help="store the chosen weight in the reader's reader.json")
    b.add_argument("--json", metavar="OUT", help="also write the whole table")
    b.set_defaults(func=cmd_bench_length_prior)
    for name, what, fitted, func in (
            ("retrieval-weight", "how much retrieval counts in ask's span ranking", "weight",
             cmd_bench_retrieval_weight),
            ("first-passage", "when ask reads the first passage alone", "rank", cmd_bench_first_passage)):
        b = bench.add_parser(name, help=f"fit {what} on a SQuAD-format file")
        b.add_argument("file")
        b.add_argument("--limit", type=int, help="only N answerable questions, spread over the file")
        b.add_argument("--write", action="store_true", help=f"store the chosen {fitted} in the reader's reader.json")
        b.add_argument("--json", metavar="OUT", help="also write the whole table")
        b.set_defaults(func=func)
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
                   help="comma-separated features to weigh (default: margin; see qa.answers.ask.ANSWER_FEATURES)")
    b.add_argument("--answerable", choices=("indexed", "right"), default="indexed",
                   help="fit as answerable the questions whose answer is indexed (default), or only those "
                        "whose best span is also right (F1 >= 0.5)")
    b.add_argument("--write", action="store_true", help="store the calibration in the reader's reader.json")
    b.add_argument("--lang", choices=("zh", "en"), default="zh",
                   help="which calibration --write stores: zh (Chinese questions) or en (English questions "
                        "over Chinese text; fit it on a file made by bench gloss)")
    b.add_argument("--json", metavar="OUT", help="also write every question's best margin and label")
    b.set_defaults(func=cmd_bench_calibrate)
    b = bench.add_parser("gloss", help="copy a SQuAD-format file with its questions in English: words "
                         "replaced by CC-CEDICT glosses (for bench squad / reader / calibrate --lang en)")
    b.add_argument("file")
    b.add_argument("--out", required=True, metavar="FILE")
    b.add_argument("--share", default="1.0",
                   help="share of each question's words glossed (1.0: all the dictionary knows; less: code-switched); "
                        "several, comma-separated: one drawn per question")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--reading", type=float, default=0.0, metavar="SHARE",
                   help="write this share of the English questions as ask reads them (terms, then the question): "
                        "training data for `train reader`")
    b.add_argument("--fronted", type=float, default=0.0, metavar="SHARE",
                   help="ask this share of the English questions in English order, the question word first")
    b.add_argument("--written", nargs="?", const="", metavar="JSONL",
                   help="instead of glossing, ask only the questions written in English in JSONL "
                        "(default: the bundled english-cmrc-dev.jsonl, 504 CMRC dev questions)")
    b.add_argument("--part", help="with --written: only the rows of this part (bundled: A, the 101 compared on "
                                  "first; B, the 202 written later to choose on; C, 201 more to check)")
    b.add_argument("--glossed-every", type=int, default=0, metavar="N",
                   help="with --written: also ask every Nth other question of the file's second half, glossed "
                        "(2 with --part B: the English gate's calibration file)")
    b.set_defaults(func=cmd_bench_gloss)
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

    b = bench.add_parser("scale", help="a synthetic archive of N passages from real text: build, add, "
                         "RSS, disk, retrieve/ask latency, recall@10 (vectors are synthetic: see output)")
    b.add_argument("--passages", type=int, required=True, metavar="N")
    b.add_argument("--work", default="scale-work", metavar="DIR",
                   help="where the archive, the embedded sentence pool (reused) and the ground truth go")
    b.add_argument("--source", action="append", metavar="FILE",
                   help="SQuAD-format file of contexts and questions (repeatable; default: CMRC 2018 "
                        "train and dev in ../shared/bench)")
    b.add_argument("--pool", type=int, default=8000, help="real sentences embedded for real (default 8000)")
    b.add_argument("--json", metavar="OUT")
    b.set_defaults(func=cmd_bench_scale)


    b = bench.add_parser("load", help="concurrent API clients against a served copy of the index "
                         "while an edition is added from another process")
    b.add_argument("--clients", type=int, default=32)
    b.add_argument("--seconds", type=float, default=60.0)
    b.add_argument("--index", metavar="DIR", help="index to serve a copy of (default: index/default)")
    b.add_argument("--add", metavar="FILE", help="edition file added during the run "
                   "(default: the sample page as the day after the latest edition)")
    b.add_argument("--milvus-lite", action="store_true", help="serve the copy from a milvus-lite server "
                   "started for the run (the gRPC path of a Milvus cluster) instead of a folder")
    b.add_argument("--json", metavar="OUT")
    b.set_defaults(func=cmd_bench_load)
