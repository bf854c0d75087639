"""Shared by the archive and live-index tests: edition page files and `edition-qa` subprocesses."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from qa.paths import sample_editions
from qa.store.folder import PAUSE_ENV

HASH_CLI = Path(__file__).with_name("hash_cli.py")
SAMPLE = sample_editions()[0].path
PASSAGES = 33  # of the sample page


def page(folder: Path, date: str, number: int, text: str | None = None) -> Path:
    """An edition page file named for its date and page (the sample text unless given)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"edition-{date}-p{number:02d}.txt"
    if text is None:
        shutil.copyfile(SAMPLE, path)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def cli(*args: str | Path, pause: str | None = None) -> subprocess.Popen:
    """`edition-qa` (hash embedder) in a subprocess; `pause` "POINT:MARKER" stops it at POINT."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    env.pop(PAUSE_ENV, None)
    if pause:
        env[PAUSE_ENV] = pause
    return subprocess.Popen([sys.executable, str(HASH_CLI), *map(str, args)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(marker: Path, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not marker.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the subprocess never reached its pause point"
        time.sleep(0.05)
