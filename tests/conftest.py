"""Shared fixtures: settings in a temporary home, the corpus, PostgreSQL, the Prefect harness."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from core.settings import Settings, load_settings

REPO = Path(__file__).resolve().parents[1]
CORPUS = Path(os.environ.get("FAIRWAY_CORPUS", REPO.parent / "shared" / "corpus"))
PG_ADMIN_URL = os.environ.get(
    "FAIRWAY_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings in an empty home, quiet window off (test files are finished)."""
    return load_settings(tmp_path / "home", quiet_seconds=0, chunk_yx=64, workers=2)


@pytest.fixture(scope="session")
def corpus() -> Path:
    """The shared corpus of real files written by other software."""
    if not (CORPUS / "SOURCES.tsv").is_file():
        pytest.skip(f"corpus not found at {CORPUS} (set FAIRWAY_CORPUS)")
    return CORPUS


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for one test, dropped afterwards."""
    sqlalchemy = pytest.importorskip("sqlalchemy")
    pytest.importorskip("psycopg")
    name = f"fairway_test_{uuid.uuid4().hex[:10]}"
    try:
        admin = sqlalchemy.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    except sqlalchemy.exc.OperationalError as exc:
        pytest.skip(f"no PostgreSQL server reachable at {PG_ADMIN_URL}: {exc.orig}")
    url = admin.url.set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """A temporary Prefect API for flow runs in tests (no server set-up needed)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@dataclass(frozen=True)
class S3Server:
    """A real S3-speaking server on loopback (moto's server mode) and credentials for it."""

    endpoint_url: str
    key: str
    secret: str


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """Start ``moto_server`` on a free loopback port for the session; stop it afterwards."""
    exe = Path(sys.executable).with_name("moto_server")
    if not exe.exists():
        pytest.skip("moto_server is not installed (pip install -e '.[test]')")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = tempfile.TemporaryFile()  # noqa: SIM115 - kept open for the server's lifetime
    proc = subprocess.Popen(
        [str(exe), "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    pytest.fail(f"moto_server did not start: {log.read().decode()[-2000:]}")
                time.sleep(0.2)
        yield S3Server(url, "fairway-test-key", "fairway-test-secret")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()
