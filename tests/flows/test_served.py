"""Served mode against a real Prefect server: schedules fire and their runs do the work.

One ``prefect server start`` per session (PostgreSQL backend in a fresh database when the
local server answers, SQLite otherwise) with its scheduler and the worker's polling turned
down to about a second, a process work pool, one process worker. ``prefect.yaml`` is deployed
the way the README tells a facility to (variables, ``prefect deploy --all``, ``prefect
deployment schedule resume --all``); the runs checked are the ones the server scheduled, never
one started by hand. Regression for issue 12: with SQLAlchemy 2.1 the scheduler raised
``InvalidRequestError`` on every loop and no scheduled run was ever created.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from catalog import Catalog
from core.records import State
from core.settings import load_settings
from tests.factories import age, make_ome_tiff
from tests.flows.served_harness import (
    REPO,
    PrefectServer,
    Processes,
    exe,
    pg_url,
    postgres_database,
)

POOL = "fairway-process"  # the pool prefect.yaml names
#: the shipped schedules fire every 2 minutes / weekly; here every few seconds, nothing else
FAST_SCHEDULES = {
    "      - interval: 120\n": "      - interval: 3\n",
    '      - cron: "0 3 * * 0"\n        timezone: UTC\n': "      - interval: 6\n",
}


@dataclass
class Served:
    server: PrefectServer
    procs: Processes
    root: Path
    backend: str


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A Prefect server with the pool of prefect.yaml and one process worker on it."""
    root = tmp_path_factory.mktemp("served")
    procs = Processes(root / "logs")
    with postgres_database("fairway_prefect") as database:
        server = PrefectServer(root, procs, pg_url(database, "asyncpg") if database else None)
        try:
            server.start()
            server.prefect("work-pool", "create", POOL, "--type", "process")
            server.worker("worker-1", POOL)
            yield Served(server, procs, root, "postgresql" if database else "sqlite")
        finally:
            procs.stop_all()
            server.close()
        assert "InvalidRequestError" not in (root / "logs" / "prefect-server.log").read_text()


def _wait_for(
    what: str, check: Callable[[], Any], timeout: float, served: Served, deployment: str
) -> Any:
    """Poll ``check`` until it is truthy; fail at once if a run of ``deployment`` broke.

    The timeouts are generous for a shared, loaded machine; on a quiet one each wait ends in
    seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        broken = [
            r["state_name"]
            for r in _runs(served, deployment)
            if r["state_type"] in ("CRASHED", "FAILED")
        ]
        scheduler_errors = re.findall(
            r"ERROR .*schedule_(?:recent_)?deployments.*", served.procs.log("prefect-server")
        )
        if broken or scheduler_errors or time.monotonic() > deadline:
            logs = {n: served.procs.log(n)[-2500:] for n in served.procs.procs}
            pytest.fail(
                f"{what} within {timeout:.0f} s ({served.backend} backend; runs of "
                f"{deployment} that broke: {broken}; scheduler errors: {scheduler_errors[:3]}); "
                f"logs: {logs}"
            )
        time.sleep(0.5)


def _runs(served: Served, deployment: str) -> list[dict[str, Any]]:
    try:
        found = served.server.deployment(deployment)
    except httpx.HTTPStatusError:
        return []  # not created yet
    return served.server.flow_runs(found["id"])


def _archived(home: Path) -> list[str]:
    """Sources of the archived acquisitions in the catalog of ``home`` (polled cheaply)."""
    if not (home / "catalog.sqlite").exists():
        return []
    catalog = Catalog.open(load_settings(home).catalog_url)
    try:
        return [row.source for row in catalog.acquisitions(State.ARCHIVED)]
    finally:
        catalog.close()


def _status(home: Path) -> list[dict[str, Any]]:
    """``fairway status --json`` of ``home``, as an operator would check it."""
    done = subprocess.run(
        [exe("fairway"), "--home", str(home), "status", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return list(json.loads(done.stdout))


def _drop_finished_acquisition(inbox: Path, name: str) -> Path:
    path = make_ome_tiff(inbox / f"{name}.ome.tif", c=1, z=2, y=64, x=64)
    age(path)  # written and quiet long ago: complete for any quiet window
    return path


@pytest.fixture(scope="session")
def deployed(served: Served) -> Iterator[tuple[Path, Path]]:
    """prefect.yaml deployed as the README says, pointed at a temporary inbox and home."""
    inbox, home = served.root / "inbox", served.root / "home"
    inbox.mkdir()
    shipped = (REPO / "prefect.yaml").read_text()
    fast = shipped
    for old, new in FAST_SCHEDULES.items():
        assert fast.count(old) == 1, f"prefect.yaml changed: {old!r} not found once"
        fast = fast.replace(old, new)
    prefect_file = served.root / "prefect.yaml"
    prefect_file.write_text(fast)
    server = served.server
    # `prefect variable set NAME VALUE` as in the README, through the API (a CLI start costs
    # seconds each; test_deployment.py runs the CLI's deploy and `deployment ls`)
    for name, value in (("fairway_inbox", inbox), ("fairway_home", home)):
        server.client.post(
            "/variables/", json={"name": name, "value": str(value)}
        ).raise_for_status()
    server.prefect("--no-prompt", "deploy", "--all", "--prefect-file", str(prefect_file))
    for name in ("fairway-ingest/ingest", "fixity-audit/fixity-audit"):
        # shipped inactive: nothing is scheduled before the facility switches them on
        assert [s["active"] for s in server.deployment(name)["schedules"]] == [False]
    server.prefect("deployment", "schedule", "resume", "--all")
    yield inbox, home
    server.prefect("deployment", "schedule", "pause", "--all")


def test_shipped_prefect_yaml_has_no_fixed_folders_and_inactive_schedules() -> None:
    text = (REPO / "prefect.yaml").read_text()
    assert "/data/" not in re.sub(r"(?m)^#.*$", "", text)  # only in the comments' examples
    assert "{{ prefect.variables.fairway_inbox }}" in text
    assert text.count("{{ prefect.variables.fairway_home }}") == 2
    assert re.findall(r"(?m)^ +active: (\w+)", text) == ["false", "false"]


def test_a_scheduled_ingest_run_archives_a_dropped_acquisition(
    served: Served, deployed: tuple[Path, Path]
) -> None:
    inbox, home = deployed
    deployment = served.server.deployment("fairway-ingest/ingest")
    assert deployment["parameters"]["sources"] == [str(inbox)]  # from the variables
    assert deployment["parameters"]["home"] == str(home)
    _drop_finished_acquisition(inbox, "served-ingest")
    _wait_for(
        "no scheduled run archived the acquisition",
        lambda: _archived(home),
        240,
        served,
        "fairway-ingest/ingest",
    )
    rows = _status(home)
    assert [(Path(r["source"]).name, r["state"]) for r in rows] == [
        ("served-ingest.ome.tif", "archived")
    ]
    runs = served.server.flow_runs(deployment["id"])
    completed = [r for r in runs if r["state_type"] == "COMPLETED"]
    assert completed, [r["state_type"] for r in runs]
    assert all(r["auto_scheduled"] for r in runs)  # every run came from the schedule


def test_a_scheduled_fixity_audit_records_its_event(
    served: Served, deployed: tuple[Path, Path]
) -> None:
    inbox, home = deployed
    if not _archived(home):
        _drop_finished_acquisition(inbox, "served-audit")
    _wait_for("nothing archived", lambda: _archived(home), 240, served, "fairway-ingest/ingest")
    dataset = _status(home)[0]["dataset"]

    def verify_events() -> list[Any]:
        catalog = Catalog.open(load_settings(home).catalog_url)
        try:
            row = catalog.find(dataset)
            assert row is not None
            return [e for e in catalog.events(row.id) if e.step == "verify"]
        finally:
            catalog.close()

    _wait_for(
        "no scheduled audit recorded a verify event",
        verify_events,
        120,
        served,
        "fixity-audit/fixity-audit",
    )
    done = subprocess.run(
        [exe("fairway"), "--home", str(home), "show", dataset, "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    events = [e for e in json.loads(done.stdout)["events"] if e["step"] == "verify"]
    assert events
    assert events[0]["action"] == "ok"
    deployment = served.server.deployment("fixity-audit/fixity-audit")
    runs = served.server.flow_runs(deployment["id"])
    assert any(r["state_type"] == "COMPLETED" for r in runs)
    assert all(r["auto_scheduled"] for r in runs)


def test_the_audit_flow_pickles_as_prefect_serve_pickles_it() -> None:
    import cloudpickle

    from flows.fixity import audit_flow

    cloudpickle.dumps(audit_flow)  # what prefect.flow_engine.run_flow_in_subprocess does


def test_the_ingest_flow_pickles_as_prefect_serve_pickles_it() -> None:
    import cloudpickle

    from flows.ingestion import ingest_flow

    cloudpickle.dumps(ingest_flow)


def test_watch_with_a_server_serves_an_interval_schedule_and_stops_on_sigterm(
    served: Served,
) -> None:
    inbox, home = served.root / "watch-inbox", served.root / "watch-home"
    inbox.mkdir()
    proc = served.procs.start(
        "watch",
        [exe("fairway"), "--home", str(home), "watch", str(inbox), "--interval", "3"],
        served.server.env,
    )
    try:
        _drop_finished_acquisition(inbox, "served-watch")
        _wait_for(
            "`fairway watch` archived nothing",
            lambda: _archived(home),
            240,
            served,
            "fairway-ingest/fairway-watch",
        )
        assert [Path(r["source"]).name for r in _status(home)] == ["served-watch.ome.tif"]
        deployment = served.server.deployment("fairway-ingest/fairway-watch")
        runs = served.server.flow_runs(deployment["id"])
        assert runs
        assert all(r["auto_scheduled"] for r in runs)
        family = psutil.Process(proc.pid).children(recursive=True)
    except BaseException:
        served.procs.stop("watch")  # a failed wait must not leave it scheduling runs
        raise
    proc.send_signal(signal.SIGTERM)  # what `systemctl stop` sends
    try:
        code = proc.wait(timeout=30)
    finally:
        served.procs.stop("watch")  # whatever SIGTERM left behind, killed
    _gone, left = psutil.wait_procs(family, timeout=5)
    assert code == 0, served.procs.log("watch")[-2000:]
    assert not left, [p.pid for p in left]  # no orphaned children
