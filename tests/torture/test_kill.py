"""T2 kill -9 at random points of each stage, then a restart: nothing lost, nothing doubled.

Each trial runs ``fairway ingest`` on a small inbox (an OME-TIFF and a plain TIFF) with
``FAIRWAY_CRASH_AT=<stage>:<n>``: the process SIGKILLs itself the n-th time it passes that
stage's failpoint (scan, fingerprint, convert, validate, bag commit, catalog update), n drawn
at random. Then ``fairway ingest`` runs again, as a restarted worker would, and the invariants
are checked: sources unchanged and nothing created beside them; no partial output under a
final name; exactly one verified archive per acquisition; every acquisition archived; staging
and the archive's own staging empty.
"""

from __future__ import annotations

import json
import os
import queue
import random
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import bagit
import pytest

from core.failpoints import POINTS
from tests.factories import age, make_ome_tiff, make_plain_tiff, tree_snapshot
from tests.torture.harness import prefect_server, record_figures

#: how often each point is passed in one run on the trial inbox (the crash count is drawn
#: from 1..this; a draw past the real count is a run without a crash, counted as such)
HITS = {"scan": 1, "fingerprint": 2, "convert": 3, "validate": 2, "bag": 8, "catalog": 2}


class _Zygote:
    """``fairway`` commands forked from one process that has imported fairway (see zygote.py)."""

    def __init__(self, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.torture.zygote"],
            env=env,
            cwd=Path(__file__).parents[2],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def run(self, argv: list[str], out: Path, crash_at: str | None) -> int:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        request: dict[str, Any] = {"argv": argv, "out": str(out)}
        if crash_at:
            request["env"] = {"FAIRWAY_CRASH_AT": crash_at}
        else:
            request["unset"] = ["FAIRWAY_CRASH_AT"]
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        reply = self.proc.stdout.readline()
        if not reply:
            raise RuntimeError("the zygote died")
        return int(json.loads(reply)["code"])

    def close(self) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=60)
        self.proc.stdout.close()


def _ingest(zygote: _Zygote, home: Path, inbox: Path, crash_at: str | None) -> tuple[int, str]:
    """Run ``fairway ingest`` as a fresh process in its own session; (exit code, stdout).

    Whatever the process leaves behind in its session is killed afterwards, as a supervisor
    restarting the worker would.
    """
    home.mkdir(parents=True, exist_ok=True)
    out = home.parent / f".{home.name}-{time.monotonic_ns()}.out"
    argv = ["--home", str(home), "ingest", str(inbox), "--quiet-seconds", "1", "--json"]
    code = zygote.run(argv, out, crash_at)
    text = out.read_text()
    out.unlink()
    return code, text


def _trial(root: Path, stage: str, k: int, inbox: Path, zygote: _Zygote) -> dict[str, Any]:
    home = root / f"{stage}-{k}"
    before = tree_snapshot(inbox)
    n = random.Random(f"{stage}{k}").randint(1, HITS[stage])
    crashed, _ = _ingest(zygote, home, inbox, f"{stage}:{n}")
    restarted, printed = _ingest(zygote, home, inbox, None)
    archive = home / "archive"
    finals = (
        [p for p in archive.iterdir() if not p.name.startswith(".")] if archive.exists() else []
    )
    partial = 0
    for bag in finals:
        try:
            bagit.Bag(str(bag)).validate()
        except bagit.BagError:
            partial += 1
    staging = home / "staging"
    orphans = [p for p in staging.rglob("*") if p.is_file()] if staging.exists() else []
    orphans += (
        [p for p in (archive / ".staging").rglob("*") if p.is_file()] if archive.exists() else []
    )
    outcomes = json.loads(printed)["outcomes"] if printed.strip() else []
    states = {o["outcome"] for o in outcomes}
    return {
        "stage": stage,
        "home": home.name,
        "killed": crashed == -9,
        "lost_source": tree_snapshot(inbox) != before,
        "partial": partial,
        "duplicates": max(0, len(finals) - 2),
        "missing": max(0, 2 - len(finals)),
        "orphans": len(orphans),
        "restart_ok": restarted == 0 and states <= {"archived", "duplicate"},
    }


def run_kills(
    root: Path, per_stage: int, stages: tuple[str, ...] = POINTS, workers: int = 2
) -> dict[str, Any]:
    """``per_stage`` trials at each failpoint of ``stages``, ``workers`` at a time; T2 figures.

    Trials run side by side, each in its own fairway home on the shared (read-only) inbox.
    """
    inbox = root / "inbox"
    make_ome_tiff(inbox / "a.ome.tif", seed=5, y=64, x=48)
    make_plain_tiff(inbox / "p.tif", seed=6, shape=(64, 48))
    age(inbox)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    env["PREFECT_HOME"] = str(root / "prefect")
    with prefect_server(root, env) as api:
        env["PREFECT_API_URL"] = api
        zygotes: queue.Queue[_Zygote] = queue.Queue()
        for _ in range(workers):
            zygotes.put(_Zygote(env))

        def trial(job: tuple[str, int]) -> dict[str, Any]:
            zygote = zygotes.get()
            try:
                return _trial(root, job[0], job[1], inbox, zygote)
            finally:
                zygotes.put(zygote)

        try:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                jobs = [(stage, k) for stage in stages for k in range(per_stage)]
                results = list(pool.map(trial, jobs))
        finally:
            while not zygotes.empty():
                zygotes.get().close()
    by_stage = {
        stage: {
            "trials": sum(r["stage"] == stage for r in results),
            "killed": sum(r["stage"] == stage and r["killed"] for r in results),
        }
        for stage in stages
    }
    return {
        "trials_per_stage": min(v["trials"] for v in by_stage.values()),
        "by_stage": by_stage,
        "lost_sources": sum(r["lost_source"] for r in results),
        "partial_visible_outputs": sum(r["partial"] for r in results),
        "duplicates": sum(r["duplicates"] for r in results),
        "missing_after_restart": sum(r["missing"] for r in results),
        "orphans_in_staging": sum(r["orphans"] for r in results),
        "restarts_failed": sum(not r["restart_ok"] for r in results),
        "failed_trials": [
            r["home"]
            for r in results
            if r["lost_source"]
            or not r["restart_ok"]
            or r["partial"]
            or r["duplicates"]
            or r["missing"]
            or r["orphans"]
        ][:20],
    }


def _check(figures: dict[str, Any]) -> None:
    for key in (
        "lost_sources",
        "partial_visible_outputs",
        "duplicates",
        "missing_after_restart",
        "orphans_in_staging",
        "restarts_failed",
    ):
        assert figures[key] == 0, figures


@pytest.mark.slow  # torture: `pytest -m slow -k _fast tests/torture` (CI runs it)
def test_kill_fast(tmp_path: Path) -> None:
    """The two riskiest windows: mid-conversion, and between the archive and the catalog."""
    _check(run_kills(tmp_path, 1, ("convert", "catalog")))


@pytest.mark.slow
def test_kill(tmp_path: Path) -> None:
    figures = run_kills(tmp_path, int(os.environ.get("FAIRWAY_TORTURE_KILLS", "200")))
    record_figures("T2 kill -9 at each stage", figures)
    _check(figures)
