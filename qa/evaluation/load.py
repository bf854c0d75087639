"""`edition-qa bench load`: concurrent API clients against a served index while an edition is added.

The server (`edition-qa serve`, i.e. `qa.app.ui.serve`) runs in a subprocess on 127.0.0.1 and a
free port over a copy of the index; N client threads ask the bundled questions through the `/ask`
endpoint (plain HTTP to Gradio's `/gradio_api/call/ask`) for S seconds; a quarter of the way in,
`edition-qa add` adds an edition from a third process; the clients go on until S seconds are up and
the added edition is answered from, whichever is later. Reported: answers/s, latency p50/p95/max,
errors (with samples), how long after the add ended the first answer from the added edition came
back (`added_visible_after_s`; that request waits in the same queue as the clients, so it includes
one request's latency), and whether it is answerable at the end.

With `milvus=True` the copy is a Milvus collection instead: a `milvus-lite server` (the gRPC path a
Milvus cluster uses) is started on 127.0.0.1 for the run, the index is copied into it (vectors
copied, not re-embedded), and both the server and the add are given its http:// URI.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from qa import paths
from qa.errors import InputError, QAError
from qa.evaluation.stages import cpu_name

__all__ = ["ask_http", "bench_load", "format_load"]

# The question asked about the default added edition (the sample page under a new date).
CHECK_QUESTION = "义乌绿色动力小镇的规划面积是多少？"
CHECK_ANSWER = "3.32"
START_TIMEOUT_S = 600
REQUEST_TIMEOUT_S = 120


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ask_http(url: str, question: str, *, date: str = "", page: int = 0, since: str = "", until: str = "",
             timeout: float = REQUEST_TIMEOUT_S) -> dict[str, Any]:
    """One question through the server's `/ask` endpoint (Gradio's REST call API); the answer JSON.
    Raises QAError with the server's message when it answers with an error."""
    body = json.dumps({"data": [question, [], date, page, since, until]}).encode("utf-8")
    request = urllib.request.Request(f"{url}gradio_api/call/ask", data=body,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        event_id = json.loads(response.read())["event_id"]
    with urllib.request.urlopen(f"{url}gradio_api/call/ask/{event_id}", timeout=timeout) as response:
        event = ""
        for raw in response:
            line = raw.decode("utf-8").rstrip("\n")
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:") and event in ("complete", "error"):
                data = line[5:].strip()
                if event == "error":
                    raise QAError(f"server error: {data[:200]}")
                return json.loads(data)[0]
    raise QAError("the server closed the stream without an answer")


def _wait_for_server(url: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(encoding="utf-8", errors="replace")[-800:]
            raise QAError(f"the server exited with code {proc.returncode} before serving: {tail}")
        try:
            ask_http(url, CHECK_QUESTION, timeout=30)
            return
        except (OSError, QAError, ValueError):
            time.sleep(1.0)
    raise QAError(f"the server did not answer within {START_TIMEOUT_S} s (log: {log})")


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def _cli(*args: str | os.PathLike) -> list[str]:
    return [sys.executable, "-m", "qa.app.cli", "--quiet", *map(str, args)]


def _edition_to_add(add: str | os.PathLike | None, index: Path | str, work: Path) -> tuple[Path, str, int, str]:
    """The file to add, its date and first page, and the question that checks it is answerable."""
    from qa.editions.parse import load_edition
    from qa.store.archive import list_editions

    if add is None:  # the sample page as the edition of the day after the index's latest
        import datetime as dt

        dates = [r.date for r in list_editions(index) if r.date]
        day = (dt.date.fromisoformat(max(dates)) + dt.timedelta(days=1)) if dates else dt.date(2020, 11, 15)
        path = work / f"edition-{day.isoformat()}-p01.txt"
        shutil.copyfile(paths.sample_editions()[0].path, path)
        return path, day.isoformat(), 1, CHECK_QUESTION
    path = Path(add)
    articles = load_edition(path)
    if not articles:
        raise InputError(f"{path.name}: no articles found in this file")
    first = next((a for a in articles if a.body), articles[0])
    return path, first.date, first.page, first.title


def _milvus_server(work: Path, env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    """A `milvus-lite server` over a data folder in `work`, on a free port: (process, http URI)."""
    exe = Path(sys.executable).with_name("milvus-lite")
    if not exe.exists():
        raise InputError("bench load --milvus-lite needs milvus-lite: pip install 'edition-qa[milvus]'")
    port = _free_port()
    with open(work / "milvus.log", "wb") as out:
        proc = subprocess.Popen([str(exe), "server", "--data-dir", str(work / "milvus"), "--host", "127.0.0.1",
                                 "--port", str(port)], env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise QAError(f"milvus-lite server did not start (log: {work / 'milvus.log'})")


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def bench_load(*, clients: int = 32, seconds: float = 60.0, index_dir: str | os.PathLike | None = None,
               add: str | os.PathLike | None = None, add_at: float = 0.25, milvus: bool = False,
               say: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Serve a copy of the index (a folder, or with `milvus` a collection in a milvus-lite server
    started for the run), run `clients` concurrent askers for `seconds` while an edition is
    added from another process at `add_at` of the run; the figures as a dict (see module doc)."""
    from qa.evaluation.questions import load_questions

    if clients < 1 or seconds <= 0:
        raise InputError("--clients must be at least 1 and --seconds more than 0")
    say = say or (lambda text: None)
    source = Path(index_dir) if index_dir is not None else paths.default_index_dir()
    questions = [q.question for q in load_questions(paths.sample_questions())]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[2]),
                                                        os.environ.get("PYTHONPATH", "")]))}
    with tempfile.TemporaryDirectory(prefix="edition-qa-load-") as tmp, contextlib.ExitStack() as stop:
        work = Path(tmp)  # `stop` ends the servers started below, whatever fails (last started first)
        if not (source / "manifest.json").exists():
            if index_dir is not None:
                raise InputError(f"No index at {source}; build one with `edition-qa build --index {source}`")
            say(f"building {source} from the sample edition")
            subprocess.run(_cli("build", "--index", source), env=env, check=True)
        if milvus:
            from qa.store.location import copy_index

            store, index = _milvus_server(work, env)
            stop.callback(_stop, store)
            say(f"copying {source} into the milvus-lite server at {index}")
            copy_index(source, index)
        else:
            index = work / "index"
            shutil.copytree(source, index)
        add_path, add_date, add_page, check = _edition_to_add(add, index, work)
        port = _free_port()
        url = f"http://127.0.0.1:{port}/"
        log = work / "server.log"
        say(f"starting the server on {url} over a copy of {source}")
        started = time.perf_counter()
        with open(log, "wb") as out:
            server = subprocess.Popen(_cli("serve", "--index", index, "--port", port), env=env,
                                      stdout=out, stderr=subprocess.STDOUT)
        stop.callback(_stop, server)
        _wait_for_server(url, server, log)
        start_s = time.perf_counter() - started
        say(f"serving after {start_s:.1f} s; {clients} clients for {seconds:g} s")
        result = _run(url, questions, clients, seconds, add_at, add_path, add_date, add_page, index, env, say)
        final = ask_http(url, check, date=add_date, page=add_page)
    cites = final.get("citations") or []
    result.update({
        "store": "milvus-lite server" if milvus else "folder",
        "server_start_s": round(start_s, 1),
        "answerable_at_end": bool(cites) and cites[0].get("date") == add_date and not final.get("no_answer"),
        "check_question": check, "check_answer": final.get("short_answer", ""),
        "check_cited": f"{cites[0].get('date')} p.{cites[0].get('page')}" if cites else "",
        "cpu": cpu_name(), "cpu_count": os.cpu_count(),
    })
    if add is None:
        result["answerable_at_end"] = result["answerable_at_end"] and CHECK_ANSWER in result["check_answer"]
    return result


def _run(url: str, questions: list[str], clients: int, seconds: float, add_at: float, add_path: Path,
         add_date: str, add_page: int, index: Path | str, env: dict[str, str],
         say: Callable[[str], None]) -> dict[str, Any]:
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    t0 = time.perf_counter()
    deadline = t0 + seconds
    stop = threading.Event()  # the clients ask until `seconds` are up and the added edition is served

    def client(n: int) -> None:
        i = n * 7
        while not stop.is_set():
            question = questions[i % len(questions)]
            i += 1
            start = time.perf_counter()
            try:
                answer = ask_http(url, question)
                if not isinstance(answer, dict) or "citations" not in answer:
                    raise QAError(f"unexpected answer: {str(answer)[:120]}")
            except (OSError, QAError, ValueError, KeyError) as exc:
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}"[:200])
                continue
            with lock:
                latencies.append(time.perf_counter() - start)

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(clients)]
    for t in threads:
        t.start()
    time.sleep(max(0.0, t0 + seconds * add_at - time.perf_counter()))
    say(f"adding {add_path.name} from another process")
    add_start = time.perf_counter()
    added = subprocess.run(_cli("add", add_path, "--index", index), env=env, capture_output=True, text=True,
                           check=False)
    add_s = time.perf_counter() - add_start
    visible_s = None
    if added.returncode == 0:
        while time.perf_counter() < add_start + add_s + 120:  # until the served version answers from it
            try:
                got = ask_http(url, CHECK_QUESTION, date=add_date, page=add_page)
                if got.get("citations"):
                    visible_s = time.perf_counter() - add_start - add_s
                    break
            except (OSError, QAError, ValueError):
                pass
            time.sleep(0.2)
    say(f"add finished in {add_s:.1f} s (exit {added.returncode}); the clients go on to the end")
    time.sleep(max(0.0, deadline - time.perf_counter()))
    stop.set()
    for t in threads:
        t.join(timeout=REQUEST_TIMEOUT_S)
    wall = time.perf_counter() - t0
    output = [line for line in (added.stdout + added.stderr).splitlines() if line.strip() and "it/s]" not in line]
    return {
        "clients": clients, "seconds": round(wall, 1), "add_started_at_s": round(add_start - t0, 1), "answers": len(latencies),
        "answers_per_s": round(len(latencies) / wall, 2),
        "latency_ms_p50": round(_percentile(latencies, 0.50) * 1000, 1),
        "latency_ms_p95": round(_percentile(latencies, 0.95) * 1000, 1),
        "latency_ms_max": round(max(latencies, default=float("nan")) * 1000, 1),
        "errors": len(errors), "error_samples": sorted(set(errors))[:5],
        "add_file": add_path.name, "add_edition": f"{add_date} p.{add_page}", "add_exit_code": added.returncode,
        "add_s": round(add_s, 1), "add_output": " / ".join(output)[-400:],
        "added_visible_after_s": None if visible_s is None else round(visible_s, 2),
        "load_average_before": round(load_before, 2),
        "load_average_after": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
    }


def format_load(report: dict[str, Any]) -> str:
    """The report as aligned lines."""
    return "\n".join(f"{k:<24} {json.dumps(v, ensure_ascii=False) if isinstance(v, (list, dict)) else v}"
                     for k, v in report.items())
