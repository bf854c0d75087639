"""Where things live: the user cache, the default index, the bundled sample edition and reader."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

_DATA = Path(__file__).resolve().parent / "data"

SAMPLE_DATE = "2020-11-14"


def cache_dir() -> Path:
    """`$EDITION_QA_CACHE`, else `$XDG_CACHE_HOME/edition-qa`, else `~/.cache/edition-qa`."""
    explicit = os.environ.get("EDITION_QA_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "edition-qa"


def models_dir() -> Path:
    """Materialized embedding models: `$EDITION_QA_MODELS`, else `<cache>/models`."""
    explicit = os.environ.get("EDITION_QA_MODELS")
    return Path(explicit).expanduser() if explicit else cache_dir() / "models"


def default_index_dir() -> Path:
    """`$EDITION_QA_INDEX`, else `index/default` in the source checkout (or the working folder)."""
    explicit = os.environ.get("EDITION_QA_INDEX")
    if explicit:
        return Path(explicit).expanduser()
    checkout = _DATA.parent.parent
    root = checkout if (checkout / "pyproject.toml").is_file() else Path.cwd()
    return root / "index" / "default"


@dataclass(frozen=True)
class EditionFile:
    """An edition page on disk with the metadata of its sidecar JSON."""

    path: Path
    date: str
    page: int


def sample_editions() -> list[EditionFile]:
    """The bundled sample edition pages, each with its date and page from the sidecar."""
    found = []
    for meta_path in sorted((_DATA / "editions").glob("*.json")):
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        found.append(EditionFile(meta_path.parent / meta["file"], meta["date"], int(meta["page"])))
    return found


def sample_questions() -> Path:
    """The fixed question set of the bundled sample edition."""
    return _DATA / "questions" / f"{SAMPLE_DATE}.jsonl"


def bundled_question_file(name: str) -> Path:
    """A bundled question file by name (qa/data/questions/NAME)."""
    return _DATA / "questions" / name


def bundled_reader_dir() -> Path:
    """The shipped reader: its fine-tuned weights, config and model card."""
    return _DATA / "reader"
