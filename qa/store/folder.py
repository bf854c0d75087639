"""The index folder on disk, safely: finished folders swapped in atomically, files replaced
atomically, SQLite files checked before use, one writer at a time (a lock file beside the
folder), leftovers of killed writers removed."""

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
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

from qa.errors import IndexFormatError

__all__ = ["QUICK_CHECK_MAX_BYTES", "WORKDIR_PREFIX", "check_sqlite_file", "checkpoint", "clean_stale",
           "fsync_path", "replace_dir", "write_atomic", "writer_lock"]

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
    """Remove what killed writers left (temporary sibling folders and files, private working copies);
    call while holding `writer_lock`. Leftovers of live processes are kept. Returns the removed."""
    folder = Path(folder).absolute()
    found = [(p, _owner(p.name, f".{folder.name}.{kind}-"))
             for kind in ("tmp", "old") for p in folder.parent.glob(f".{folder.name}.{kind}-*")]
    found += [(p, _owner(p.name, WORKDIR_PREFIX))
              for p in Path(tempfile.gettempdir()).glob(f"{WORKDIR_PREFIX}*")]
    # files written atomically inside the folder (`write_atomic`): .NAME.tmp-<pid>-<ns>
    found += [(p, _owner(p.name, ".tmp-")) for p in folder.glob(".*.tmp-*")] if folder.is_dir() else []
    removed = []
    for path, pid in found:
        if pid is not None and pid != os.getpid() and not _alive(pid):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    """Write a file by `write(tmp)` to a temporary sibling, fsync it, rename it to `path`."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{time.time_ns()}")
    try:
        write(tmp)
        fsync_path(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_path(path.parent)


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


_SQLITE_HEADER = b"SQLite format 3\x00"
# quick_check reads every page (seconds a GB): only files up to this size get it on open; a
# larger one is checked by its header, tables and version, and SQLite reports damage it meets.
QUICK_CHECK_MAX_BYTES = 256 * 2**20


def check_sqlite_file(path: Path, *, readonly: bool, tables: set[str], version: int) -> None:
    """Refuse, before writing anything, a file that is not a sound edition-qa store: an SQLite
    database that passes quick_check, holds `tables` (or none yet) and has user_version `version`."""
    fix = "delete it or rebuild the index with `edition-qa build`"
    if not path.exists():
        if readonly:
            raise IndexFormatError(f"{path} does not exist; build the index with `edition-qa build`")
        return
    if path.is_dir():
        raise IndexFormatError(f"{path} is a folder, not an edition-qa store file")
    with path.open("rb") as f:
        header = f.read(len(_SQLITE_HEADER))
    if not header:
        return  # an empty file is a new database to SQLite
    if header != _SQLITE_HEADER:
        raise IndexFormatError(f"{path} is not an edition-qa store (not an SQLite database); {fix}")
    try:
        uri = f"file:{quote(str(path.resolve()))}?mode=ro"
        conn = sqlite3.connect(uri, uri=True)
        try:
            small = path.stat().st_size <= QUICK_CHECK_MAX_BYTES
            check = conn.execute("PRAGMA quick_check").fetchone() if small else ("ok",)
            found = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            stored = conn.execute("PRAGMA user_version").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise IndexFormatError(f"{path} is a corrupt SQLite file ({exc}); {fix}") from exc
    if not check or check[0] != "ok":
        raise IndexFormatError(f"{path} is a corrupt SQLite file ({check[0] if check else '?'}); {fix}")
    if found and not tables <= found:
        raise IndexFormatError(f"{path} is an SQLite file but not an edition-qa store; {fix}")
    if found and stored != version:
        raise IndexFormatError(
            f"{path} has store format {stored}, this version reads {version}; "
            "rebuild the index with `edition-qa build`"
        )
