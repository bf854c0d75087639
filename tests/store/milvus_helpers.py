"""Shared by the Milvus tests: a free port and a `milvus-lite server` subprocess on 127.0.0.1
(the gRPC path a Milvus cluster uses); import the `server` fixture where it is used."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def milvus_server(data_dir: Path) -> Iterator[tuple[subprocess.Popen, str]]:
    """A `milvus-lite server` over `data_dir` on a free port: (process, http URI); killed at the end."""
    port = free_port()
    exe = Path(sys.executable).with_name("milvus-lite")
    proc = subprocess.Popen([str(exe), "server", "--data-dir", str(data_dir), "--host", "127.0.0.1",
                             "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("milvus-lite server did not start") from None
                time.sleep(0.2)
        yield proc, f"http://127.0.0.1:{port}"
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


@pytest.fixture
def server(tmp_path):
    """(process, http://127.0.0.1:PORT) of a milvus-lite server over a fresh data folder."""
    pytest.importorskip("milvus_lite")
    with milvus_server(tmp_path / "server-data") as started:
        yield started
