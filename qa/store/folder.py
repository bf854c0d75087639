"""Writing an index folder safely: finished folders swapped in atomically, SQLite copied whole."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import shutil
import sqlite3
import time
from pathlib import Path

__all__ = ["backup_sqlite", "fsync_path", "replace_dir"]


def fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux renameat2 RENAME_EXCHANGE); False when unsupported."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    return renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0


def replace_dir(tmp: Path, final: Path) -> None:
    """Put the finished folder `tmp` at `final` without ever leaving a half-written `final`."""
    if not final.exists():
        os.rename(tmp, final)
    elif _exchange(tmp, final):
        shutil.rmtree(tmp)  # now holds the previous index
    else:
        # Fallback: two renames; between them the old index sits complete in `old`.
        old = final.with_name(f".{final.name}.old-{os.getpid()}-{time.time_ns()}")
        os.rename(final, old)
        os.rename(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    fsync_path(final.parent)


def backup_sqlite(src: str, dest: Path) -> None:
    """Copy an SQLite database (WAL included) into one self-contained file."""
    source = sqlite3.connect(src)
    target = sqlite3.connect(dest)
    try:
        source.backup(target)
        target.execute("PRAGMA journal_mode = DELETE")  # one file on disk, no -wal beside it
    finally:
        target.close()
        source.close()
