"""Shared by the commands: ISO date arguments, JSON to stdout or to a file."""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path
from typing import Any

from qa.errors import QAError

__all__ = ["iso_date", "print_json", "write_json"]


def print_json(data: Any) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2))


def write_json(path: str, data: Any) -> None:
    try:
        Path(path).write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        raise QAError(f"cannot write {path}: {exc.strerror}") from None


def iso_date(value: str) -> str:
    """An argparse type: a YYYY-MM-DD date, normalized."""
    try:
        return dt.date.fromisoformat(value).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {value!r}") from None
