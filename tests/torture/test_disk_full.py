"""T5 disk full: staging on a small tmpfs the test mounts (the machine's tests run as root).

An acquisition whose OME-Zarr does not fit is quarantined with the ENOSPC reason, the staging
folder is left empty, the archive is untouched, and ``fairway retry`` archives it once the
space is there. Without the right to mount a tmpfs the test says so and is skipped.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile
from typer.testing import CliRunner

from flows.cli import app
from tests.factories import age
from tests.torture.harness import record_figures

runner = CliRunner()


@pytest.fixture
def small_staging(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "staging"
    mount.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def run_disk_full(tmp_path: Path, staging: Path) -> dict[str, Any]:
    """Fill the staging disk; the T5 figures."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    noise = np.random.default_rng(5).integers(0, 65535, (8, 512, 512), dtype=np.uint16)
    tifffile.imwrite(inbox / "noise.ome.tif", noise, ome=True)  # 4 MiB that do not compress
    age(inbox)
    home = tmp_path / "home"
    home.mkdir()
    (home / "fairway.toml").write_text(f"[fairway]\nstaging_dir = '{staging}'\n", encoding="utf-8")
    first = runner.invoke(app, ["--home", str(home), "ingest", str(inbox), "--json"])
    [outcome] = json.loads(first.stdout)["outcomes"]
    left = [p for p in staging.rglob("*")]
    archive = home / "archive"
    visible = (
        [p for p in archive.iterdir() if not p.name.startswith(".")] if archive.exists() else []
    )
    subprocess.run(["mount", "-o", "remount,size=64m", str(staging)], check=True)
    retried = runner.invoke(app, ["--home", str(home), "retry", str(outcome["dataset"]), "--json"])
    after = json.loads(retried.stdout) if retried.exit_code in (0, 1) and retried.stdout else []
    return {
        "outcome": outcome["outcome"],
        "reason": (outcome.get("reason") or "")[:200],
        "quarantined_with_enospc": outcome["outcome"] == "quarantined"
        and "No space left" in (outcome.get("reason") or ""),
        "staging_cleaned": left == [],
        "archive_untouched": visible == [],
        "retry_succeeds": bool(after) and after[0]["outcome"] == "archived",
    }


def _check(figures: dict[str, Any]) -> None:
    assert figures["quarantined_with_enospc"], figures
    assert figures["staging_cleaned"] and figures["archive_untouched"], figures
    assert figures["retry_succeeds"], figures


def test_disk_full_fast(tmp_path: Path, small_staging: Path) -> None:
    _check(run_disk_full(tmp_path, small_staging))


@pytest.mark.slow
def test_disk_full(tmp_path: Path, small_staging: Path) -> None:
    figures = run_disk_full(tmp_path, small_staging)
    record_figures("T5 disk full", figures)
    _check(figures)
