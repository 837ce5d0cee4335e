"""Print the torture figures, each beside its target: ``python -m tests.torture.report``.

``--run`` runs the torture suite first (``pytest -m slow tests/torture``), which writes the
figures to ``.torture/figures.json`` (or ``FAIRWAY_TORTURE_FIGURES``). A family that was not
run is listed as such, never as passed.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from typing import Any

from tests.torture.harness import FIGURES, REPO

#: family -> [(figure key, target, check)]
TARGETS: dict[str, list[tuple[str, str, Any]]] = {
    "T1 corrupt and malicious inputs": [
        ("inputs", ">= 2000", lambda v: v >= 2000),
        ("accepted_or_typed_rejection_naming_input_percent", "100", lambda v: v == 100.0),
        ("worker_crashes", "0", lambda v: v == 0),
        ("hangs", "0", lambda v: v == 0),
        ("max_peak_rss_mb", "<= 2048", lambda v: v <= 2048),
        ("max_seconds", "<= 60", lambda v: v <= 60),
        ("p95_seconds", "(reported)", None),
        ("outcomes", "(reported)", None),
        ("typed_errors", "(reported)", None),
    ],
    "T6 security negatives": [
        ("cases", "(reported)", None),
        ("rejected_percent", "100", lambda v: v == 100.0),
        ("max_seconds", "< 1 for XML bombs", lambda v: v < 1.0),
        ("max_rss_growth_mb", "< 100", lambda v: v < 100),
        ("files_written_outside_home", "0", lambda v: v == 0),
        ("canary_hits", "0", lambda v: v == 0),
    ],
    "T7 credential hygiene": [
        ("canaries", "(reported)", None),
        ("places_scanned", "(reported)", None),
        ("hits", "0", lambda v: v == 0),
    ],
    "T2 kill -9 at each stage": [
        ("trials_per_stage", ">= 200", lambda v: v >= 200),
        ("by_stage", "(reported)", None),
        ("lost_sources", "0", lambda v: v == 0),
        ("partial_visible_outputs", "0", lambda v: v == 0),
        ("duplicates", "0", lambda v: v == 0),
        ("missing_after_restart", "0", lambda v: v == 0),
        ("orphans_in_staging", "0", lambda v: v == 0),
        ("restarts_failed", "0", lambda v: v == 0),
    ],
    "T3 slow and odd writers": [
        ("trials", ">= 500", lambda v: v >= 500),
        ("premature_pickups", "0", lambda v: v == 0),
        ("writer_overruns", "(reported)", None),  # a starved writer paused past the window
        ("missed", "0", lambda v: v == 0),
        ("latency_p50_p95_seconds", "(reported)", None),
    ],
    "T5 disk full": [
        ("quarantined_with_enospc", "yes", lambda v: v is True),
        ("staging_cleaned", "yes", lambda v: v is True),
        ("retry_succeeds", "yes", lambda v: v is True),
    ],
    "T8 load": [
        ("acquisitions", ">= 20", lambda v: v >= 20),
        ("largest_input_mib", "> memory limit", None),
        ("memory_limit_mib", "(setting)", None),
        ("peak_rss_mb_per_worker", "(reported)", None),
        ("throughput_mib_per_s", "(reported)", None),
        ("lost", "0", lambda v: v == 0),
        ("tracebacks", "0", lambda v: v == 0),
    ],
    "T4 duplicate delivery": [
        ("acquisitions", ">= 100", lambda v: v >= 100),
        ("deliveries", "(reported)", None),
        ("archived_objects_per_acquisition", "exactly 1", lambda v: v == [1]),
    ],
}


def _show(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else value
    return text if len(text) <= 70 else text[:67] + "..."


def main(argv: list[str] | None = None) -> int:
    """Print every family's figures; exit 1 when one misses its target or was not run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", action="store_true", help="run the torture suite first")
    args = parser.parse_args(argv)
    if args.run:
        subprocess.run(
            [sys.executable, "-m", "pytest", "-m", "slow", "tests/torture", "-q"], cwd=REPO
        )
    figures = json.loads(FIGURES.read_text(encoding="utf-8")) if FIGURES.is_file() else {}
    ok = True
    for family, rows in TARGETS.items():
        found = figures.get(family)
        print(f"\n{family}" + (f"  (measured {found['measured_at']})" if found else ""))
        if found is None:
            print("  not run: `python -m tests.torture.report --run`")
            ok = False
            continue
        for key, target, check in rows:
            value = found.get(key)
            verdict = (
                "" if check is None else ("ok" if value is not None and check(value) else "MISSED")
            )
            ok = ok and verdict != "MISSED"
            print(f"  {key:52} {_show(value):>40}   target {target:>18}  {verdict}")
    print("\nall targets met" if ok else "\nsome targets missed or not run")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
