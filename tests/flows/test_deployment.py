"""prefect.yaml: its entrypoint loads the way a worker loads it, its parameters fit the flow,
and `prefect deploy --all` accepts it against a real local Prefect server."""

from __future__ import annotations

import inspect
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]


def _deployments() -> list[dict[str, Any]]:
    return yaml.safe_load((REPO / "prefect.yaml").read_text())["deployments"]


def test_entrypoint_loads_as_a_worker_loads_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from prefect.flows import load_flow_from_entrypoint

    monkeypatch.chdir(REPO)
    for dep in _deployments():
        flow: Any = load_flow_from_entrypoint(dep["entrypoint"], use_placeholder_flow=False)
        assert (
            flow.name == {"ingest": "fairway-ingest", "fixity-audit": "fixity-audit"}[dep["name"]]
        )
        params = set(inspect.signature(flow.fn).parameters)
        assert set(dep["parameters"]) <= params
        assert "database_url" not in str(dep["parameters"])  # secrets never as parameters


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def prefect_server(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    port = _free_port()
    env = {
        **os.environ,
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    prefect = shutil.which("prefect", path=str(Path(sys.executable).parent))
    assert prefect is not None
    proc = subprocess.Popen(
        [prefect, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("local Prefect server did not start within 90 s")
        yield prefect, env
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_prefect_deploy_all_against_a_local_server(
    prefect_server: tuple[str, dict[str, str]],
) -> None:
    prefect, env = prefect_server

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [prefect, *args], env=env, cwd=REPO, capture_output=True, text=True, timeout=180
        )

    created = run("work-pool", "create", "fairway-process", "--type", "process")
    assert created.returncode == 0, created.stderr
    deployed = run("--no-prompt", "deploy", "--all")
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    listed = run("deployment", "ls")
    assert listed.returncode == 0, listed.stderr
    assert "fairway-ingest/ingest" in listed.stdout
    assert "fixity-audit/fixity-audit" in listed.stdout
