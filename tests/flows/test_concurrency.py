"""Two ingest processes at once on the same inbox and catalog: each acquisition is archived
exactly once, and neither process fails."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from catalog import Catalog
from tests.factories import age, make_imagej, make_ome_tiff, make_plain_tiff


def _fairway() -> str:
    exe = shutil.which("fairway", path=str(Path(sys.executable).parent))
    assert exe is not None
    return exe


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_two_ingest_processes_archive_each_acquisition_once(
    tmp_path: Path, request: pytest.FixtureRequest, backend: str
) -> None:
    inbox = tmp_path / "inbox"
    for i in range(3):
        make_ome_tiff(inbox / f"a{i}.ome.tif", seed=10 + i, y=80, x=72)
        make_plain_tiff(inbox / f"p{i}.tif", seed=20 + i)
    make_imagej(inbox / "s.tif")
    age(inbox)
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    env["PREFECT_HOME"] = str(tmp_path / "prefect")
    if backend == "postgresql":
        env["FAIRWAY_DATABASE_URL"] = request.getfixturevalue("postgres_url")
    cmd = [_fairway(), "--home", str(home), "ingest", str(inbox), "--quiet-seconds", "1", "--json"]
    procs = [
        subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=300) for p in procs]
    for p, (_out, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err[-2000:]
    outcomes = [o for out, _ in outputs for o in json.loads(out)["outcomes"]]
    archived = [o["dataset"] for o in outcomes if o["outcome"] == "archived"]
    assert sorted(archived) == sorted(set(archived))  # nobody archived anything twice
    assert len(archived) == 7
    assert {o["outcome"] for o in outcomes} <= {"archived", "duplicate", "busy"}
    url = env.get("FAIRWAY_DATABASE_URL") or f"sqlite:///{home / 'catalog.sqlite'}"
    cat = Catalog.open(url)
    try:
        rows = cat.acquisitions()
    finally:
        cat.close()
    assert len(rows) == 7 and {r.state for r in rows} == {"archived"}
    bags = [p for p in (home / "archive").iterdir() if not p.name.startswith(".")]
    assert len(bags) == 7
