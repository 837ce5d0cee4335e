"""T7 credential hygiene: secrets set to canary values never show up where they must not.

The S3 key and secret (a real moto server), the OMERO password and the database password (a
PostgreSQL URL; the local server trusts loopback, so any password connects) are set to
canaries. An ingest with an S3 copy runs as a subprocess, as an operator would run it, while
every process's command line is sampled. Afterwards the canaries are searched in: the
process's stdout and stderr, the sampled command lines, the Prefect database (flow runs,
parameters, logs, artifacts), the catalog, the archive and its copy, staging, and every other
file in the fairway home.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import S3Server
from tests.factories import age, make_ome_tiff
from tests.torture.harness import record_figures


def _cmdlines() -> list[bytes]:
    out = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                out.append((proc / "cmdline").read_bytes())
            except OSError:
                continue
    return out


def _scan_files(root: Path, canaries: list[bytes]) -> tuple[int, int]:
    """(files read, canary hits) under ``root``."""
    files = hits = 0
    for path in root.rglob("*"):
        if path.is_file() and path.stat().st_size < 256 * 1024**2:
            files += 1
            data = path.read_bytes()
            hits += sum(data.count(c) for c in canaries)
    return files, hits


def run_hygiene(tmp_path: Path, server: S3Server, postgres_url: str) -> dict[str, Any]:
    """Run an ingest with canary secrets; the T7 figures."""
    token = uuid.uuid4().hex[:10]
    canary = {
        "s3_key": f"AKIACANARY{token.upper()}",
        "s3_secret": f"canary-secret-{token}",
        "omero_password": f"canary-omero-{token}",
        "db_password": f"canarydb{token}",
    }
    canaries = [v.encode() for v in canary.values()]
    inbox = tmp_path / "inbox"
    make_ome_tiff(inbox / "a.ome.tif", seed=41)
    age(inbox)
    home = tmp_path / "home"
    db_url = postgres_url.replace("postgres@", f"postgres:{canary['db_password']}@", 1)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    env.update(
        PREFECT_HOME=str(tmp_path / "prefect"),
        FAIRWAY_DATABASE_URL=db_url,
        FAIRWAY_ARCHIVE_COPIES=f'["s3://hygiene-{token}/fairway"]',
        FAIRWAY_S3_ENDPOINT_URL=server.endpoint_url,
        FAIRWAY_S3_KEY=canary["s3_key"],
        FAIRWAY_S3_SECRET=canary["s3_secret"],
        FAIRWAY_OMERO_HOST="omero.invalid",
        FAIRWAY_OMERO_USER="curator",
        FAIRWAY_OMERO_PASSWORD=canary["omero_password"],
    )
    exe = Path(sys.executable).with_name("fairway")
    sampled: list[bytes] = []
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            sampled.extend(_cmdlines())
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    result = subprocess.run(
        [str(exe), "--home", str(home), "ingest", str(inbox), "--quiet-seconds", "1", "--json"],
        env=env,
        capture_output=True,
        timeout=600,
        check=False,
    )
    done.set()
    sampler.join()
    places = {
        "stdout": result.stdout,
        "stderr": result.stderr,
        "command lines": b"\n".join(sampled),
    }
    hits = {name: sum(blob.count(c) for c in canaries) for name, blob in places.items()}
    scanned = 0
    for name, root in (("fairway home", home), ("prefect home", tmp_path / "prefect")):
        files, found = _scan_files(root, canaries)
        scanned += files
        hits[name] = found
    # the catalog lives in PostgreSQL here: dump what it holds
    import sqlalchemy as sa

    engine = sa.create_engine(postgres_url)
    with engine.connect() as conn:
        for table in ("acquisitions", "events", "deliveries", "search_index", "file_hashes"):
            rows = conn.execute(sa.text(f"SELECT * FROM {table}")).fetchall()
            blob = repr(rows).encode()
            hits[f"catalog.{table}"] = sum(blob.count(c) for c in canaries)
    engine.dispose()
    return {
        "canaries": len(canaries),
        "places_scanned": len(hits) - 2 + scanned,
        "hits": sum(hits.values()),
        "hits_by_place": {k: v for k, v in hits.items() if v},
        "ingest_exit_code": result.returncode,
        "archived": b'"outcome": "archived"' in result.stdout,
    }


def _check(figures: dict[str, Any]) -> None:
    assert figures["archived"], figures
    assert figures["hits"] == 0, figures["hits_by_place"]


def test_credential_hygiene_fast(tmp_path: Path, s3_server: S3Server, postgres_url: str) -> None:
    _check(run_hygiene(tmp_path, s3_server, postgres_url))


@pytest.mark.slow
def test_credential_hygiene(tmp_path: Path, s3_server: S3Server, postgres_url: str) -> None:
    figures = run_hygiene(tmp_path, s3_server, postgres_url)
    record_figures("T7 credential hygiene", figures)
    _check(figures)
