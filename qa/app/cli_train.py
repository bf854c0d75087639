"""`edition-qa train`: the reader, its ensemble and its int8 activation scales."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from qa.errors import InputError
from qa.models.reader import update_config

__all__ = ["add_train_parsers"]


def cmd_train_reader(args: argparse.Namespace) -> int:
    from qa.models.training import TrainSettings, train_reader

    settings = TrainSettings(epochs=args.epochs, lr=args.lr, batch_size=args.batch_size,
                             first_trained=args.first_trained, seed=args.seed,
                             random_negatives=args.random_negatives, answer_removed=args.answer_removed,
                             reading_form=args.reading_form)
    summary = train_reader(args.train, args.out, settings=settings, budget_s=args.budget_hours * 3600,
                           work=args.work, limit=args.limit, precision=args.precision, progress=not args.quiet,
                           init=args.init)
    done = "finished" if summary["finished"] else "stopped at the time budget (run again to resume)"
    if args.dev and summary["finished"]:
        from qa.evaluation.benchmarks import bench_reader

        report = bench_reader(args.dev, limit=args.dev_limit, folder=args.out, progress=not args.quiet)
        update_config({"dev": {"file": Path(args.dev).name, "questions": report["questions"],
                               "em": round(report["em"], 1), "f1": round(report["f1"], 1),
                               "mode": report["mode"]}}, args.out)
        print(f"dev {Path(args.dev).name}, {report['questions']} questions: "
              f"EM {report['em']:.1f}  F1 {report['f1']:.1f}  (official CMRC 2018 metric)")
    print(f"{summary['steps']}/{summary['total_steps']} steps, {done}; loss {summary['first_loss']:.3f} -> "
          f"{summary['final_loss']:.3f}; {summary['train_time_s']} s in all ({summary['precision']}); "
          f"weights in {args.out}")
    return 0


def cmd_train_int8_scales(args: argparse.Namespace) -> int:
    from qa.evaluation.benchmarks import calibration_pairs
    from qa.models.quantize import measure_maxima
    from qa.models.reader import Reader

    pairs = calibration_pairs(args.train, args.pairs)
    path, layers = measure_maxima(Reader(args.reader_dir, precision="fp32"), pairs)
    print(f"activation maxima of {layers} linear layers from {len(pairs)} questions of {Path(args.train).name} -> {path}")
    return 0


def cmd_train_combine(args: argparse.Namespace) -> int:
    from qa.models.weights import combine_readers

    routes = {}
    for spec in args.route or []:
        lang, _, members = spec.partition("=")
        try:
            routes[lang.strip()] = [int(m) for m in members.split(",")]
        except ValueError:
            raise InputError(f"--route takes LANG=I,J (member numbers), not {spec!r}") from None
    config = combine_readers(args.readers, args.out, bits=args.bits, routes=routes or None)
    size = (Path(args.out) / "reader.safetensors").stat().st_size
    print(f"{len(config['members'])} readers combined into {args.out} ({config['storage']}, "
          f"{size / 1e6:.1f} MB; {config['train_time_s_in_all']} s of training in all); fit its length prior, "
          "retrieval weight, first-passage rank and no-answer calibration again (bench length-prior / "
          "retrieval-weight / first-passage / calibrate --write, with EDITION_QA_READER set to it)")
    return 0


def add_train_parsers(sub: Any) -> None:
    """Add the `train` command to the `edition-qa` subparsers."""
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
    t.add_argument("--init", metavar="DIR", help="start from this trained reader (a second run continuing a first); "
                   "DIR@N: member N of a combined reader")
    t.add_argument("--random-negatives", type=float, default=0.25,
                   help="share of questions also paired with a passage of another paragraph")
    t.add_argument("--answer-removed", type=float, default=0.0,
                   help="share of questions also paired with their passage less the answer's sentences")
    t.add_argument("--reading-form", action="store_true",
                   help="train on text as the reader reads it (no OCR spaces next to CJK characters)")
    t.set_defaults(func=cmd_train_reader)
    t = train.add_parser("combine", help="one reader averaging several trained ones (an ensemble)")
    t.add_argument("readers", nargs="+", metavar="DIR", help="folders written by `train reader` (two or more "
                   "runs; a combined folder brings all its runs, DIR@I,J only members I and J)")
    t.add_argument("--out", required=True, metavar="DIR", help="where the combined reader.json and "
                   "reader.safetensors go")
    t.add_argument("--bits", type=int, choices=(16, 8, 4), default=8,
                   help="how the matrices are stored: fp16, int8 with a scale per row (default), or int4 with "
                        "a scale per 32 weights for the feed-forward matrices and int8 for the rest")
    t.add_argument("--route", action="append", metavar="LANG=I,J",
                   help="the members that read questions of LANG (zh, en), e.g. --route zh=0,1 --route en=2; "
                        "a language not routed is read by every member")
    t.set_defaults(func=cmd_train_combine)
    t = train.add_parser("int8-scales", help="measure the reader's activations for its int8 form")
    t.add_argument("--train", required=True, metavar="FILE", help="SQuAD-format questions (CMRC 2018 train)")
    t.add_argument("--pairs", type=int, default=120, help="questions read (each with two passages)")
    t.add_argument("--reader-dir", metavar="DIR", help="the reader folder (default: the one in use)")
    t.set_defaults(func=cmd_train_int8_scales)
