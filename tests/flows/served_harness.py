"""A real Prefect server, work pool and process workers on loopback, as a facility runs them.

Used by ``tests/flows/test_served.py`` (one server and worker per session) and by
``benchmarks/served.py``. Every process starts in its own session and is stopped with all its
descendants (flow-run subprocesses included), also when a test fails.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import httpx
import psutil

REPO = Path(__file__).resolve().parents[2]
PG_ADMIN_URL = os.environ.get(
    "FAIRWAY_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)

#: the scheduler, late-runs service and workers turned from minutes to about a second
FAST_LOOPS = {
    "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "1",
    "PREFECT_SERVER_SERVICES_SCHEDULER_RECENT_DEPLOYMENTS_LOOP_SECONDS": "1",
    "PREFECT_SERVER_SERVICES_SCHEDULER_MIN_RUNS": "1",
    "PREFECT_SERVER_SERVICES_SCHEDULER_MAX_RUNS": "3",
    "PREFECT_SERVER_SERVICES_SCHEDULER_MIN_SCHEDULED_TIME": "PT10S",
    "PREFECT_SERVER_SERVICES_LATE_RUNS_LOOP_SECONDS": "2",
    "PREFECT_SERVER_SERVICES_FOREMAN_LOOP_SECONDS": "5",
    "PREFECT_WORKER_QUERY_SECONDS": "1",
    "PREFECT_WORKER_PREFETCH_SECONDS": "5",
    "PREFECT_RUNNER_POLL_FREQUENCY": "1",
}
#: no analytics from the server, no telemetry from clients
QUIET = {"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1"}


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def exe(name: str) -> str:
    """A console script of the running interpreter's environment (``prefect``, ``fairway``)."""
    return str(Path(sys.executable).with_name(name))


@contextlib.contextmanager
def postgres_database(prefix: str) -> Iterator[str | None]:
    """A fresh database on the local PostgreSQL server (its name), or ``None`` if none answers."""
    try:
        import sqlalchemy as sa

        admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except Exception:  # noqa: BLE001 - no driver, no server: the caller falls back to SQLite
        yield None
        return
    try:
        yield name
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def pg_url(database: str, driver: str) -> str:
    """A URL of ``database`` on the admin URL's server with ``driver`` (asyncpg, psycopg)."""
    from sqlalchemy.engine import make_url

    url = make_url(PG_ADMIN_URL).set(drivername=f"postgresql+{driver}", database=database)
    return url.render_as_string(hide_password=False)


class Processes:
    """Processes started in their own sessions; ``stop`` ends each with all its descendants."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.procs: dict[str, tuple[subprocess.Popen[bytes], IO[bytes]]] = {}

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        """Start ``argv`` from the repository root, output to ``<logs>/<name>.log``."""
        self.logs.mkdir(parents=True, exist_ok=True)
        log = (self.logs / f"{name}.log").open("wb")
        proc = subprocess.Popen(
            argv, env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.procs[name] = (proc, log)
        return proc

    def log(self, name: str) -> str:
        """What ``name`` has written so far."""
        return (self.logs / f"{name}.log").read_text(errors="replace")

    def stop(self, name: str, sig: signal.Signals = signal.SIGTERM, timeout: float = 20) -> int:
        """Send ``sig`` to ``name``; after ``timeout`` s kill it and every descendant left."""
        proc, log = self.procs.pop(name)
        try:
            family = psutil.Process(proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            family = []
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait(timeout=10)
        for child in family:  # flow-run subprocesses may sit in sessions of their own
            with contextlib.suppress(psutil.NoSuchProcess):
                child.kill()
        psutil.wait_procs(family, timeout=10)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()
        return code

    def stop_all(self) -> None:
        """Stop every process still running, newest first."""
        for name in reversed(list(self.procs)):
            self.stop(name)


class PrefectServer:
    """``prefect server start`` on a free loopback port, with its own home and database."""

    def __init__(self, root: Path, procs: Processes, database_url: str | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/api"
        self.procs = procs
        self.env = {
            **os.environ,
            **QUIET,
            **FAST_LOOPS,
            "PREFECT_HOME": str(root / "prefect-home"),
            "PREFECT_API_URL": self.url,
            "PYTHONPATH": os.pathsep.join(
                [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]
            ),
        }
        if database_url:
            self.env["PREFECT_SERVER_DATABASE_CONNECTION_URL"] = database_url
        self.client = httpx.Client(base_url=self.url, timeout=30)

    def start(self, timeout: float = 120) -> None:
        """Start the server and wait until it answers its health check."""
        proc = self.procs.start(
            "prefect-server",
            [exe("prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(self.port)],
            self.env,
        )
        deadline = time.monotonic() + timeout
        while True:
            try:
                if self.client.get("/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    "the Prefect server did not start: " + self.procs.log("prefect-server")[-3000:]
                )
            time.sleep(0.3)

    def prefect(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        """Run the ``prefect`` CLI against this server; fail with its output if it fails."""
        done = subprocess.run(
            [exe("prefect"), *args],
            env=self.env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"prefect {' '.join(args)}: {done.stdout}\n{done.stderr}")
        return done

    def worker(self, name: str, pool: str) -> subprocess.Popen[bytes]:
        """Start a process worker on ``pool`` (it runs flows from the repository root)."""
        return self.procs.start(
            name, [exe("prefect"), "worker", "start", "--pool", pool, "--name", name], self.env
        )

    def deployment(self, name: str) -> dict[str, Any]:
        """The deployment ``flow/deployment`` as the API returns it."""
        reply = self.client.get(f"/deployments/name/{name}")
        reply.raise_for_status()
        return dict(reply.json())

    def flow_runs(self, deployment_id: str) -> list[dict[str, Any]]:
        """Every flow run of one deployment."""
        body = {"deployments": {"id": {"any_": [deployment_id]}}, "limit": 200}
        reply = self.client.post("/flow_runs/filter", content=json.dumps(body))
        reply.raise_for_status()
        return list(reply.json())

    def close(self) -> None:
        """Close the API client (the processes are stopped by their ``Processes``)."""
        self.client.close()
