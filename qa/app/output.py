"""What commands write: JSON to stdout or to a file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from qa.errors import QAError

__all__ = ["print_json", "write_json"]


def print_json(data: Any) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2))


def write_json(path: str, data: Any) -> None:
    try:
        Path(path).write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        raise QAError(f"cannot write {path}: {exc.strerror}") from None
