"""T8 load: many acquisitions at once, two worker processes, one image larger than the memory bound.

Twenty acquisitions (plain TIFFs, OME-TIFF stacks and one large OME-TIFF of random 16-bit
pixels, larger than the workers' ``memory_limit_bytes``) arrive together; two ``fairway
ingest`` processes work the same inbox and catalog. Figures: each worker's peak RSS (from the
kernel, ``wait4``) beside the bound, throughput, and acquisitions lost (none may be).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile

from tests.factories import age, make_ome_tiff, make_plain_tiff
from tests.torture.harness import prefect_server, record_figures

MIB = 1024**2


def _inbox(root: Path, n: int, large_mib: int) -> tuple[Path, int]:
    inbox = root / "inbox"
    for i in range(n - 1):
        if i % 2:
            make_plain_tiff(inbox / f"plain{i:03d}.tif", seed=300 + i, shape=(512, 512))
        else:
            make_ome_tiff(inbox / f"stack{i:03d}.ome.tif", seed=300 + i, y=256, x=256)
    planes = max(1, large_mib * MIB // (2048 * 2048 * 2))
    big = np.random.default_rng(9).integers(0, 65535, (planes, 2048, 2048), dtype=np.uint16)
    tifffile.imwrite(inbox / "large.ome.tif", big, ome=True, metadata={"axes": "ZYX"})
    age(inbox)
    return inbox, sum(p.stat().st_size for p in inbox.iterdir())


def run_load(root: Path, n: int, large_mib: int, memory_mib: int) -> dict[str, Any]:
    """Two workers on ``n`` acquisitions; the T8 figures."""
    inbox, total = _inbox(root, n, large_mib)
    home = root / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    env.update(PREFECT_HOME=str(root / "prefect"), FAIRWAY_MEMORY_LIMIT_BYTES=str(memory_mib * MIB))
    exe = str(Path(sys.executable).with_name("fairway"))
    cmd = [exe, "--home", str(home), "ingest", str(inbox), "--quiet-seconds", "1", "--json"]
    outs = [root / f"worker{k}.json" for k in range(2)]
    with prefect_server(root, env) as api:  # the workers' RSS is then theirs alone
        env["PREFECT_API_URL"] = api
        started = time.perf_counter()
        procs = []
        for out in outs:
            with out.open("w") as fh, out.with_suffix(".err").open("w") as err:
                procs.append(subprocess.Popen(cmd, env=env, stdout=fh, stderr=err))
        peaks = []
        for p in procs:
            _pid, status, usage = os.wait4(p.pid, 0)
            p.returncode = os.waitstatus_to_exitcode(status)
            peaks.append(round(usage.ru_maxrss / 1024, 1))
        seconds = time.perf_counter() - started
    outcomes = [o for out in outs for o in json.loads(out.read_text())["outcomes"]]
    archived = {o["dataset"] for o in outcomes if o["outcome"] == "archived"}
    bags = [p for p in (home / "archive").iterdir() if not p.name.startswith(".")]
    return {
        "acquisitions": n,
        "input_mib": round(total / MIB, 1),
        "largest_input_mib": large_mib,
        "memory_limit_mib": memory_mib,
        "peak_rss_mb_per_worker": peaks,
        "seconds": round(seconds, 1),
        "throughput_mib_per_s": round(total / MIB / seconds, 1),
        "archived": len(archived),
        "lost": n - len(bags),
        "exit_codes": [p.returncode for p in procs],
        "tracebacks": sum("Traceback" in o.with_suffix(".err").read_text() for o in outs),
    }


def _check(figures: dict[str, Any]) -> None:
    assert figures["lost"] == 0 and figures["archived"] == figures["acquisitions"], figures
    assert figures["exit_codes"] == [0, 0], figures
    assert figures["tracebacks"] == 0, figures


@pytest.mark.slow  # torture: `pytest -m slow -k _fast tests/torture` (CI runs it)
def test_load_fast(tmp_path: Path) -> None:
    _check(run_load(tmp_path, 6, 48, 64))


@pytest.mark.slow
def test_load(tmp_path: Path) -> None:
    figures = run_load(tmp_path, 20, 512, 256)
    record_figures("T8 load", figures)
    _check(figures)
