"""``fairway watch`` as a daemon (systemd, cron, a pipe): signals, log lines, a dead server.

Each test runs the real command as a subprocess in its own session, with its output on pipes
(not a terminal), and checks that nothing of it is left running afterwards.
"""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from catalog import Catalog
from core.settings import load_settings
from flows.pipeline import ingest_once
from tests.factories import age, make_plain_tiff


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "FAIRWAY_"))}
    env.update(PREFECT_HOME=str(tmp_path / "prefect"), **extra)
    return env


class Daemon:
    """``fairway watch`` in its own session; its stderr lines arrive on a queue."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        exe = str(Path(sys.executable).with_name("fairway"))
        self.proc = subprocess.Popen(
            [exe, *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self._queue.put(line)

    def wait_for(self, text: str, timeout: float = 240) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=0.5)
            except queue.Empty:
                assert self.proc.poll() is None, f"exited {self.proc.returncode}: {self.lines}"
                continue
            self.lines.append(line.rstrip("\n"))
            if text in line:
                return line
        raise AssertionError(f"no line with {text!r} in {timeout} s: {self.lines}")

    def finish(self, timeout: float = 60) -> int:
        code = self.proc.wait(timeout=timeout)
        self._reader.join(timeout=10)  # the pipe's end: every line is on the queue
        while not self._queue.empty():
            self.lines.append(self._queue.get().rstrip("\n"))
        return code

    def leftovers(self) -> bool:
        """Whether any process of the daemon's session is still alive (then killed)."""
        try:
            os.killpg(self.proc.pid, 0)
        except ProcessLookupError:
            left = False
        else:
            os.killpg(self.proc.pid, signal.SIGKILL)
            left = True
        self.proc.wait(timeout=30)
        self._reader.join(timeout=10)
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()
        return left


def _log_lines_are_clean(lines: list[str]) -> None:
    assert lines, "no output"
    for line in lines:
        assert line.startswith("ts="), line  # one logfmt line per event, no traceback, no bar
    assert not any("Traceback" in line or "\x1b[" in line for line in lines)


def test_sigterm_stops_watch_cleanly(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    make_plain_tiff(inbox / "w.tif")
    age(inbox)
    home = tmp_path / "home"
    daemon = Daemon(["--home", str(home), "watch", str(inbox), "--interval", "0.5"], _env(tmp_path))
    try:
        archived = daemon.wait_for("outcome=archived")
        assert f"source={inbox / 'w.tif'}" in archived and "dataset=fw-" in archived
        daemon.wait_for("nothing new")  # idle between scans now
        daemon.proc.send_signal(signal.SIGTERM)
        assert daemon.finish() == 0, daemon.lines
    finally:
        left = daemon.leftovers()
    assert not left, "processes of the daemon were left running"
    _log_lines_are_clean(daemon.lines)
    assert "stopped" in daemon.lines[-1]
    assert not (tmp_path / "prefect").exists()  # no Prefect server, not even its home


def test_sigint_twice_stops_at_once_and_the_claim_is_retaken(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    make_plain_tiff(inbox / "stuck.tif")
    age(inbox)
    home = tmp_path / "home"
    env = _env(tmp_path, FAIRWAY_STALL_AT="validate")  # the acquisition spins at full CPU
    daemon = Daemon(["--home", str(home), "watch", str(inbox), "--interval", "0.5"], env)
    try:
        daemon.wait_for("outcome=processing")
        daemon.proc.send_signal(signal.SIGINT)
        daemon.wait_for("stopping after the current acquisition")
        time.sleep(1.0)
        assert daemon.proc.poll() is None  # the first signal lets the acquisition go on
        daemon.proc.send_signal(signal.SIGINT)
        assert daemon.finish(timeout=20) == 128 + signal.SIGINT
    finally:
        left = daemon.leftovers()
    assert not left, "processes of the daemon were left running"
    _log_lines_are_clean(daemon.lines)
    # its claim is not stuck: the next worker takes it over and archives the acquisition once
    settings = load_settings(home, quiet_seconds=0)
    summary = ingest_once([inbox], settings)
    assert [o.outcome for o in summary.outcomes] == ["archived"]
    catalog = Catalog.open(settings.catalog_url)
    try:
        [row] = catalog.acquisitions()
        steps = [(e.step, e.action) for e in catalog.events(row.id)]
    finally:
        catalog.close()
    assert row.state == "archived" and ("ingest", "retaken") in steps


@pytest.mark.parametrize("command", ["watch", "ingest"])
def test_an_unreachable_server_is_one_line_and_a_failure(tmp_path: Path, command: str) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    env = _env(tmp_path, PREFECT_API_URL=f"http://127.0.0.1:{port}/api")
    exe = str(Path(sys.executable).with_name("fairway"))
    done = subprocess.run(
        [exe, "--home", str(tmp_path / "home"), command, str(inbox)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    [line] = done.stderr.splitlines()
    assert f"the Prefect API at http://127.0.0.1:{port}/api does not answer" in line
    assert done.stdout == ""
