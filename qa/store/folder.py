"""Writing an index folder safely: finished folders swapped in atomically, SQLite copied whole,
one writer at a time (a lock file beside the folder), leftovers of killed writers removed."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import fcntl
import os
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

__all__ = ["WORKDIR_PREFIX", "backup_sqlite", "checkpoint", "clean_stale", "fsync_path",
           "replace_dir", "writer_lock"]

# Private working copies of loaded indexes live in the temp folder as <prefix><pid>-<random>.
WORKDIR_PREFIX = "edition-qa-index-"
# Tests only: "POINT:MARKER" makes the process write MARKER and sleep when it reaches POINT,
# so a test can SIGKILL it at a known step of an add.
PAUSE_ENV = "EDITION_QA_PAUSE_AT"


def checkpoint(point: str) -> None:
    """A named step of a write; pauses there when PAUSE_ENV names it (tests)."""
    spec = os.environ.get(PAUSE_ENV, "")
    name, _, marker = spec.partition(":")
    if spec and name == point:
        Path(marker).write_text(str(os.getpid()), encoding="utf-8")
        time.sleep(3600)


@contextlib.contextmanager
def writer_lock(folder: Path) -> Iterator[None]:
    """Hold the exclusive writer lock of the index at `folder` (blocks while another holds it).

    The lock file sits beside the folder (`.NAME.lock`), since the folder itself is swapped on
    every save. flock is released by the kernel when its holder dies, so a killed writer never
    leaves a lock behind.
    """
    folder = Path(folder).absolute()
    folder.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder.with_name(f".{folder.name}.lock"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _owner(name: str, marker: str) -> int | None:
    """The pid in a leftover's name (`<...><marker><pid>-<more>`), if it has one."""
    digits = name.partition(marker)[2].split("-", 1)[0]
    return int(digits) if digits.isdigit() else None


def clean_stale(folder: Path) -> list[Path]:
    """Remove what killed writers left (temporary sibling folders, private working copies);
    call while holding `writer_lock`. Leftovers of live processes are kept. Returns the removed."""
    folder = Path(folder).absolute()
    found = [(p, _owner(p.name, f".{folder.name}.{kind}-"))
             for kind in ("tmp", "old") for p in folder.parent.glob(f".{folder.name}.{kind}-*")]
    found += [(p, _owner(p.name, WORKDIR_PREFIX))
              for p in Path(tempfile.gettempdir()).glob(f"{WORKDIR_PREFIX}*")]
    removed = []
    for path, pid in found:
        if pid is not None and pid != os.getpid() and not _alive(pid) and path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


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
        checkpoint("swapped")
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
