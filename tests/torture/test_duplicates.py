"""T4 duplicate delivery: every acquisition is archived exactly once, however it arrives.

N acquisitions (100 in the full run) are each delivered five ways:

1. the same path, ingested twice;
2. a byte-identical copy under another name, in another folder;
3. the folder renamed while an ingest is running, then ingested under its new name;
4. two ingest processes at once on one more set of copies (the catalog on PostgreSQL);
5. a retry after a crash between the archive commit and the catalog update (the catalog row
   is put back to ``processing`` with a stale claim, as a killed worker leaves it).

Figure: archived objects per acquisition (exactly 1), and every acquisition archived.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from catalog import Catalog
from core.settings import load_settings
from flows.ingestion import run_ingest
from tests.factories import age, make_plain_tiff
from tests.torture.harness import record_figures


def _deliver(root: Path, n: int) -> Path:
    inbox = root / "inbox-a"
    for i in range(n):
        make_plain_tiff(inbox / f"acq{i:04d}.tif", seed=1000 + i, shape=(48, 40))
    age(inbox)
    return inbox


def _copy_as(src: Path, dest: Path, prefix: str) -> Path:
    dest.mkdir(parents=True)
    for f in sorted(src.iterdir()):
        shutil.copy2(f, dest / f"{prefix}-{f.name}")
    age(dest)
    return dest


def run_duplicates(root: Path, n: int, postgres_url: str) -> dict[str, Any]:
    """Deliver ``n`` acquisitions five ways; the T4 figures."""
    settings = load_settings(root / "home", quiet_seconds=1, database_url=postgres_url)
    inbox = _deliver(root, n)
    outcomes: dict[str, dict[str, int]] = {}

    def tally(way: str, summary: Any) -> None:
        counts: dict[str, int] = {}
        for o in summary.outcomes:
            counts[o.outcome] = counts.get(o.outcome, 0) + 1
        outcomes[way] = counts

    tally("1 first delivery", run_ingest([inbox], settings))
    tally("1 same path again", run_ingest([inbox], settings))
    copies = _copy_as(inbox, root / "inbox-b", "copy")
    tally("2 identical copy, other name", run_ingest([copies], settings))
    # 3: rename the folder while an ingest of it runs, then ingest the new name
    moving = _copy_as(inbox, root / "inbox-c", "moved")
    renamed = root / "inbox-c-renamed"

    def rename_soon() -> None:
        time.sleep(0.5)
        moving.rename(renamed)

    thread = threading.Thread(target=rename_soon)
    thread.start()
    tally("3 during rename", run_ingest([moving], settings))
    thread.join()
    tally("3 after rename", run_ingest([renamed], settings))
    # 4: two ingest processes at once on one more set of copies
    twice = _copy_as(inbox, root / "inbox-d", "twice")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    env.update(PREFECT_HOME=str(root / "prefect"), FAIRWAY_DATABASE_URL=postgres_url)
    exe = str(Path(sys.executable).with_name("fairway"))
    cmd = [
        exe,
        "--home",
        str(settings.home),
        "ingest",
        str(twice),
        "--quiet-seconds",
        "1",
        "--json",
    ]
    procs = [
        subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    for k, p in enumerate(procs):
        out, err = p.communicate(timeout=1200)
        if not out.strip():
            raise AssertionError(f"concurrent ingest {k + 1} printed nothing: {err[-1500:]}")
        counts: dict[str, int] = {}
        for o in json.loads(out)["outcomes"]:
            counts[o["outcome"]] = counts.get(o["outcome"], 0) + 1
        outcomes[f"4 concurrent process {k + 1}"] = counts
    # 5: a worker died after committing the archive, before the catalog said so
    engine = sa.create_engine(postgres_url)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE acquisitions SET state='processing', claimed_by='dead-worker', "
                "claimed_at=:old WHERE id IN (SELECT id FROM acquisitions ORDER BY id LIMIT :k)"
            ),
            {"old": "2000-01-01T00:00:00+00:00", "k": max(1, n // 4)},
        )
    engine.dispose()
    retry = load_settings(root / "home", quiet_seconds=1, database_url=postgres_url)
    retry = retry.model_copy(update={"claim_timeout_seconds": timedelta(minutes=1).total_seconds()})
    tally("5 retry after a crash", run_ingest([_copy_as(inbox, root / "inbox-e", "retry")], retry))
    catalog = Catalog.open(postgres_url)
    try:
        rows = catalog.acquisitions()
    finally:
        catalog.close()
    bags = [p.name for p in settings.archive_root.iterdir() if not p.name.startswith(".")]
    per_dataset: dict[str, int] = {}
    for name in bags:
        per_dataset[name] = per_dataset.get(name, 0) + 1
    return {
        "acquisitions": n,
        "deliveries": sum(sum(c.values()) for c in outcomes.values()),
        "outcomes_by_way": outcomes,
        "catalog_rows": len(rows),
        "archived_rows": sum(r.state == "archived" for r in rows),
        "archived_objects": len(bags),
        "archived_objects_per_acquisition": sorted(set(per_dataset.values())),
        "lost": n - len(per_dataset),
    }


def _check(figures: dict[str, Any], n: int) -> None:
    assert figures["archived_objects_per_acquisition"] == [1], figures
    assert figures["archived_objects"] == n and figures["lost"] == 0, figures
    assert figures["catalog_rows"] == n and figures["archived_rows"] == n, figures


@pytest.mark.slow  # torture: `pytest -m slow -k _fast tests/torture` (CI runs it)
def test_duplicate_delivery_fast(tmp_path: Path, postgres_url: str) -> None:
    _check(run_duplicates(tmp_path, 4, postgres_url), 4)


@pytest.mark.slow
def test_duplicate_delivery_full(tmp_path: Path, postgres_url: str) -> None:
    n = int(os.environ.get("FAIRWAY_TORTURE_DUPLICATES", "100"))
    figures = run_duplicates(tmp_path, n, postgres_url)
    record_figures("T4 duplicate delivery", figures)
    _check(figures, n)
