"""`edition-qa add`, `remove` and `editions`: an index (folder or Milvus URI) as an archive of editions."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from qa.app.output import iso_date, print_json

__all__ = ["add_archive_parsers"]


def _location(args: argparse.Namespace) -> tuple[Any, str]:
    """The index location of `--index` (else `$EDITION_QA_INDEX`, else index/default) and how to show it."""
    from qa.paths import default_index_dir
    from qa.store.location import parse_location

    loc = parse_location(args.index or os.environ.get("EDITION_QA_INDEX") or default_index_dir())
    return loc, loc.display


def _pages(pages: Sequence[tuple[str, int]]) -> str:
    return ", ".join(f"{d or 'undated'} p.{n}" for d, n in pages)


def cmd_add(args: argparse.Namespace) -> int:
    from qa.store.archive import AddOutcome, add_editions

    target, shown = _location(args)

    def report(o: AddOutcome) -> None:
        name = Path(o.path).name
        if o.status == "failed":
            print(f"edition-qa: error: {o.error}", file=sys.stderr, flush=True)
        elif o.status == "unchanged":
            print(f"unchanged  {_pages(o.pages)}  {name}", flush=True)
        else:
            print(f"{o.status:<9}  {_pages(o.pages)}  {o.articles} items, {o.passages} passages "
                  f"({o.embedded} embedded)  {name}", flush=True)

    started = time.perf_counter()
    result = add_editions(target, args.path, model=args.model, date=args.date, page=args.page,
                          progress=not args.quiet, report=report)
    seconds = time.perf_counter() - started
    if result.saved:
        c = result.counts
        print(f"saved {shown}: {c.get('editions', 0)} edition page(s), {c.get('articles', 0)} items, "
              f"{c.get('passages', 0)} passages (generation {result.generation}) in {seconds:.1f} s")
    else:
        print(f"no changes: {shown} left as it was")
    return 1 if result.failed else 0


def cmd_remove(args: argparse.Namespace) -> int:
    from qa.store.archive import remove_editions

    target, shown = _location(args)
    pages = remove_editions(target, args.date, args.page)
    which = f"{args.date} page {args.page}" if args.page is not None else args.date
    print(f"removed {which} ({pages} page(s)) from {shown}")
    return 0


def _page_ranges(pages: Sequence[int]) -> str:
    """1,2,3,5 -> "1-3,5"."""
    runs: list[list[int]] = []
    for n in sorted(pages):
        if runs and n == runs[-1][1] + 1:
            runs[-1][1] = n
        else:
            runs.append([n, n])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


def cmd_editions(args: argparse.Namespace) -> int:
    from qa.store.archive import list_editions

    target, shown = _location(args)
    rows = list_editions(target)
    if args.json:
        print_json([{"date": r.date, "pages": list(r.pages), "articles": r.articles,
                     "passages": r.passages, "added": r.added} for r in rows])
        return 0
    if not rows:
        print(f"no editions in {shown}")
        return 0
    print(f"{'date':<10}  {'pages':<10}  {'articles':>8}  {'passages':>8}  added")
    for r in rows:
        print(f"{r.date or 'undated':<10}  {_page_ranges(r.pages):<10}  {r.articles:>8}  "
              f"{r.passages:>8}  {r.added}")
    print(f"{len(rows)} date(s), {sum(len(r.pages) for r in rows)} page(s), "
          f"{sum(r.articles for r in rows)} items, {sum(r.passages for r in rows)} passages")
    return 0


def add_archive_parsers(sub: Any) -> None:
    """Add the `add`, `remove` and `editions` commands to the `edition-qa` subparsers."""
    p = sub.add_parser("add", help="add edition files and folders to an index (created when missing)")
    p.add_argument("path", nargs="+", help="edition files, or folders searched recursively")
    p.add_argument("--index", metavar="DIR|URI", help="index folder or Milvus URI (default: index/default)")
    p.add_argument("--model", help="model of a new index (default multilingual-e5-small); "
                   "for an existing one, the model it must have")
    p.add_argument("--date", type=iso_date)
    p.add_argument("--page", type=int)
    p.set_defaults(func=cmd_add)

    p = sub.add_parser("remove", help="remove an edition date (or one of its pages) from an index")
    p.add_argument("--date", type=iso_date, required=True)
    p.add_argument("--page", type=int)
    p.add_argument("--index", metavar="DIR|URI", help="index folder or Milvus URI (default: index/default)")
    p.set_defaults(func=cmd_remove)

    p = sub.add_parser("editions", help="list the editions of an index")
    p.add_argument("--index", metavar="DIR|URI", help="index folder or Milvus URI (default: index/default)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_editions)
