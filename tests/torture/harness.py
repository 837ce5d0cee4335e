"""Run torture inputs through worker processes, with a time limit per input; keep the figures.

Figures go to ``FAIRWAY_TORTURE_FIGURES`` (default ``.torture/figures.json`` in the checkout),
one entry per test family, read back by ``python -m tests.torture.report``.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
FIGURES = Path(os.environ.get("FAIRWAY_TORTURE_FIGURES", REPO / ".torture" / "figures.json"))
CORPUS = Path(os.environ.get("FAIRWAY_CORPUS", REPO.parent / "shared" / "corpus"))

__all__ = [
    "CORPUS",
    "FIGURES",
    "Worker",
    "prefect_server",
    "record_figures",
    "run_inputs",
]


@contextlib.contextmanager
def prefect_server(root: Path, env: dict[str, str]) -> Iterator[str]:
    """A Prefect API server on loopback for the test's workers; yields its API URL.

    Workers then need no local server of their own: it costs seconds each, and its memory
    would count in the worker's peak RSS (the kernel reports waited-for children's too).
    """
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exe = str(Path(sys.executable).with_name("prefect"))
    log = (root / "prefect-server.log").open("w")
    server = subprocess.Popen(
        [exe, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env={**env, "PREFECT_HOME": str(root / "prefect-server")},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as reply:
                    if reply.status == 200:
                        break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the Prefect server did not start") from None
                time.sleep(0.5)
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        log.close()


def record_figures(family: str, figures: dict[str, Any]) -> None:
    """Merge one family's figures into the figures file."""
    FIGURES.parent.mkdir(parents=True, exist_ok=True)
    doc = json.loads(FIGURES.read_text(encoding="utf-8")) if FIGURES.is_file() else {}
    doc[family] = {**figures, "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    FIGURES.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")


class Worker:
    """One ``tests.torture.worker`` process; restarted after a hang or a crash."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.proc: subprocess.Popen[str] | None = None
        self.lines: queue.Queue[str | None] = queue.Queue()

    def _start(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.torture.worker", str(self.home)],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.lines = queue.Queue()
        out = self.proc.stdout
        assert out is not None

        def pump() -> None:
            for line in out:
                self.lines.put(line)
            self.lines.put(None)

        threading.Thread(target=pump, daemon=True).start()

    def ask(self, request: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Send one request; a hang or a dead worker is an outcome too."""
        if self.proc is None or self.proc.poll() is not None:
            self._start()
        assert self.proc is not None and self.proc.stdin is not None
        started = time.perf_counter()
        try:
            self.proc.stdin.write(json.dumps(request) + "\n")
            self.proc.stdin.flush()
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            self.stop()
            return {"request": request, "outcome": "hang", "seconds": timeout, "peak_rss_mb": 0}
        except BrokenPipeError:
            line = None
        if line is None:
            code = self.proc.wait()
            self.stop()
            return {
                "request": request,
                "outcome": "crash",
                "error": f"worker exit {code}",
                "seconds": time.perf_counter() - started,
                "peak_rss_mb": 0,
            }
        result: dict[str, Any] = json.loads(line)
        return result

    def stop(self) -> None:
        """End the process (killed if it does not stop)."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            for pipe in (self.proc.stdin, self.proc.stdout):
                if pipe is not None:
                    pipe.close()
            self.proc = None


def run_inputs(
    requests: Iterable[dict[str, Any]], home: Path, *, workers: int = 2, timeout: float = 60.0
) -> list[dict[str, Any]]:
    """Every request through ``workers`` worker processes; results in request order."""
    todo = list(enumerate(requests))
    results: list[dict[str, Any] | None] = [None] * len(todo)
    lock = threading.Lock()

    def serve(k: int) -> None:
        worker = Worker(home / f"worker-{k}")
        try:
            while True:
                with lock:
                    if not todo:
                        return
                    index, request = todo.pop(0)
                results[index] = worker.ask(request, timeout)
        finally:
            worker.stop()

    threads = [threading.Thread(target=serve, args=(k,)) for k in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return [r for r in results if r is not None]
