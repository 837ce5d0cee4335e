"""The plain pipeline (no Prefect): one acquisition, one scan, the run record, the time bound,
and what the commands import."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from catalog import Catalog, worker_id
from core import failpoints
from core.settings import Settings
from flows.pipeline import IngestSummary, Outcome, ingest_once, process_candidate, scan_sources
from tests.factories import age, make_inbox, make_plain_tiff

REPO = Path(__file__).resolve().parents[2]


def _by_name(summary: IngestSummary) -> dict[str, str]:
    return {Path(o.source).name: o.outcome for o in summary.outcomes}


def test_ingest_once_runs_without_prefect_and_records_the_run(
    settings: Settings, tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    make_inbox(inbox)
    seen: list[Outcome] = []
    summary = ingest_once([inbox], settings, on_outcome=seen.append)
    assert _by_name(summary) == {
        "cells.ome.tif": "archived",
        "plain.tif": "archived",
        "stack.tif": "archived",
        "cut.tif": "quarantined",
        "scan.ims": "rejected",
    }
    assert seen == summary.outcomes
    assert summary.describe() == "3 archived, 1 quarantined, 1 rejected"
    catalog = Catalog.open(settings.catalog_url)
    try:
        [run] = catalog.runs()
        again = ingest_once([inbox], settings)
        newest, first = catalog.runs()
    finally:
        catalog.close()
    assert run.counts == {"archived": 3, "quarantined": 1, "rejected": 1}
    assert run.orchestrator == "library" and run.sources == [str(inbox)]
    assert first.id == run.id and newest.counts == {"duplicate": 5}
    assert again.describe() == "5 duplicate"


def test_one_plain_function_processes_one_acquisition(settings: Settings, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    make_plain_tiff(inbox / "one.tif")
    age(inbox)
    [cand], pending = scan_sources([inbox], settings)
    assert pending == []
    catalog = Catalog.open(settings.catalog_url)
    try:
        first = process_candidate(cand, settings, catalog, worker_id())
        second = process_candidate(cand, settings, catalog, worker_id())
        events = [(e.step, e.action) for e in catalog.events(str(first.id))]
    finally:
        catalog.close()
    assert (first.outcome, second.outcome) == ("archived", "duplicate")
    assert events[:5] == [
        ("ingest", "claimed"),
        ("extract", "ok"),
        ("convert", "ok"),
        ("validate", "ok"),
        ("archive", "ok"),
    ]


def _stall_next_validate(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the next pass at the ``validate`` failpoint spin for ever (pure Python, full CPU)."""
    passes = failpoints._hits.get("stall:validate", 0)
    monkeypatch.setenv("FAIRWAY_STALL_AT", f"validate:{passes + 1}")


@pytest.mark.parametrize("thread", ["main", "worker"])
def test_a_stalled_acquisition_is_stopped_quarantined_and_the_next_one_runs(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, thread: str
) -> None:
    inbox = tmp_path / "inbox"
    make_plain_tiff(inbox / "a-stalls.tif", seed=5)
    make_plain_tiff(inbox / "b-next.tif", seed=6)
    age(inbox)
    bounded = settings.model_copy(update={"acquisition_timeout_seconds": 3.0})
    _stall_next_validate(monkeypatch)
    result: list[IngestSummary] = []
    if thread == "main":
        result.append(ingest_once([inbox], bounded))
    else:  # e.g. a Prefect task run in a worker thread: no SIGALRM there
        worker = threading.Thread(target=lambda: result.append(ingest_once([inbox], bounded)))
        worker.start()
        worker.join(timeout=120)
        assert not worker.is_alive()
    [summary] = result
    assert _by_name(summary) == {"a-stalls.tif": "quarantined", "b-next.tif": "archived"}
    stalled = next(o for o in summary.outcomes if o.outcome == "quarantined")
    assert stalled.reason is not None
    assert "a-stalls.tif" in stalled.reason and "longer than 3 s" in stalled.reason
    catalog = Catalog.open(settings.catalog_url)
    try:
        row = catalog.find(str(stalled.dataset))
    finally:
        catalog.close()
    assert row is not None and row.state == "quarantined"
    assert str(row.reason).startswith("AcquisitionTimeoutError")
    assert not (settings.staging_root / str(stalled.dataset)).exists()


def _imported_by(args: list[str], env: dict[str, str]) -> list[str]:
    """Heavy top-level modules a ``fairway`` command imported (run in a fresh interpreter)."""
    code = (
        "import sys\n"
        "from flows.cli import app\n"
        f"sys.argv = ['fairway', *{args!r}]\n"
        "try:\n    app()\nexcept SystemExit as exc:\n    assert not exc.code, exc.code\n"
        "heavy = ('prefect', 'dask', 'distributed', 'zarr', 'xarray', 'alembic')\n"
        "sys.stderr.write('IMPORTED ' + ' '.join(m for m in heavy if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stderr.rpartition("IMPORTED ")[2].split()


def test_commands_import_neither_prefect_nor_dask_without_a_server(
    settings: Settings, tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    make_plain_tiff(inbox / "one.tif")
    age(inbox)
    summary = ingest_once([inbox], settings)
    [dataset] = [o.dataset for o in summary.outcomes]
    assert dataset is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PREFECT_HOME=str(tmp_path / "prefect"), PYTHONPATH=str(REPO))
    home = ["--home", str(settings.home)]
    for args in (
        ["status", "--json"],
        ["show", dataset, "--json"],
        ["gaps", dataset, "--json"],
        ["search", "blobs", "--json"],
        ["verify", dataset, "--json"],
        ["--help"],
    ):
        assert _imported_by([*home, *args], env) == [], args
    # an ingest that finds nothing new runs no server and imports no Prefect
    assert "prefect" not in _imported_by([*home, "ingest", str(inbox), "--json"], env)
    assert not (tmp_path / "prefect").exists()
