"""Scale-out on loopback: Prefect server + process workers + a dask cluster + PostgreSQL catalog.

Starts ``prefect server start`` (PostgreSQL backend), the ``fairway-process`` pool, a
``dask.distributed`` scheduler with two workers (fairway converts on it through its
``dask_scheduler_address`` setting), and deploys ``prefect.yaml`` the way the README says
(variables, ``prefect deploy --all``, ``prefect deployment schedule resume --all``) with only the
ingest schedule, quiet window and deployment concurrency changed for the run (printed). Then:

1. one Prefect worker: a batch of acquisitions is dropped; time until all are archived;
2. two Prefect workers: the same with a new batch;
3. three single acquisitions, one at a time (the latency of a file that waits for nothing);
4. two workers, a last batch, and one worker (with its running flow) is SIGKILLed as soon as
   the first acquisition of the batch is archived; the survivor and the claim timeout finish
   the batch.

Prints acquisitions archived, duplicates (catalog rows or archived bags beyond one per
acquisition: must be 0), lost (dropped but not archived: must be 0), latency from "file
finished" (its last write) to "archived" (the catalog's finish time) p50/p95, and throughput
with one vs two workers. Run: ``python -m benchmarks.served [--per-batch N]`` from the checkout.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from tempfile import mkdtemp

import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from catalog import Catalog  # noqa: E402
from core.records import State  # noqa: E402
from ingest.samples import ome_tiff_bytes  # noqa: E402
from tests.flows.served_harness import (  # noqa: E402
    PrefectServer,
    Processes,
    exe,
    free_port,
    pg_url,
    postgres_database,
)

POOL = "fairway-process"


def _variant(interval: int, quiet: int, concurrency: int) -> str:
    text = (REPO / "prefect.yaml").read_text()
    changes = {
        "      - interval: 120\n": f"      - interval: {interval}\n",
        "        quiet_seconds: 60\n": f"        quiet_seconds: {quiet}\n",
        "    concurrency_limit: 1\n\n  - name: fixity-audit": (
            f"    concurrency_limit: {concurrency}\n\n  - name: fixity-audit"
        ),
    }
    for old, new in changes.items():
        if text.count(old) != 1:
            raise SystemExit(f"prefect.yaml changed: {old!r} not found once")
        text = text.replace(old, new)
    return text


def _drop(inbox: Path, batch: str, n: int) -> dict[str, float]:
    """Write ``n`` OME-TIFFs; their sources and the time each was finished (last write)."""
    finished = {}
    for i in range(n):
        path = inbox / f"{batch}-{i:02d}.ome.tif"
        tmp = inbox / f".{path.name}.part"  # hidden while written, as instruments do
        tmp.write_bytes(ome_tiff_bytes(path.stem, c=2, z=6, y=256, x=256, seed=1000 + i))
        os.replace(tmp, path)
        finished[str(path)] = path.stat().st_mtime
    return finished


def _archived(catalog_url: str) -> dict[str, float]:
    catalog = Catalog.open(catalog_url)
    try:
        return {
            row.source: row.updated_at.replace(tzinfo=row.updated_at.tzinfo or UTC).timestamp()
            for row in catalog.acquisitions(State.ARCHIVED)
        }
    finally:
        catalog.close()


def _wait(catalog_url: str, sources: set[str], timeout: float) -> float:
    started = time.monotonic()
    while not sources <= set(_archived(catalog_url)):
        if time.monotonic() - started > timeout:
            break
        time.sleep(1)
    return time.monotonic() - started


def _kill_tree(pid: int) -> None:
    proc = psutil.Process(pid)
    family = [proc, *proc.children(recursive=True)]
    for p in family:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.send_signal(signal.SIGKILL)
    psutil.wait_procs(family, timeout=10)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--per-batch", type=int, default=8, help="acquisitions per phase (3 phases)")
    ap.add_argument("--interval", type=int, default=5, help="ingest schedule interval, s")
    ap.add_argument("--quiet", type=int, default=5, help="quiet window, s")
    ap.add_argument("--claim-timeout", type=int, default=60, help="claim re-take after, s")
    ap.add_argument("--timeout", type=float, default=900, help="per phase, s")
    args = ap.parse_args()

    root = Path(mkdtemp(prefix="fairway-served-bench-"))
    inbox, home = root / "inbox", root / "home"
    inbox.mkdir()
    procs = Processes(root / "logs")
    load_before = Path("/proc/loadavg").read_text().split()[:3]
    with (
        postgres_database("fairway_bench_prefect") as prefect_db,
        postgres_database("fairway_bench_catalog") as catalog_db,
    ):
        if prefect_db is None or catalog_db is None:
            raise SystemExit("no PostgreSQL server at 127.0.0.1:5432 (FAIRWAY_TEST_POSTGRES_URL)")
        catalog_url = pg_url(catalog_db, "psycopg")
        server = PrefectServer(root, procs, pg_url(prefect_db, "asyncpg"))
        try:
            dask_port = free_port()
            procs.start(
                "dask-scheduler",
                [
                    exe("dask"),
                    "scheduler",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(dask_port),
                    "--no-dashboard",
                ],
                server.env,
            )
            for i in (1, 2):
                procs.start(
                    f"dask-worker-{i}",
                    [
                        exe("dask"),
                        "worker",
                        f"tcp://127.0.0.1:{dask_port}",
                        "--nthreads",
                        "1",
                        "--no-dashboard",
                        "--name",
                        f"w{i}",
                    ],
                    server.env,
                )
            server.env.update(
                {
                    # secrets and cluster through the workers' environment, never parameters
                    "FAIRWAY_DATABASE_URL": catalog_url,
                    "FAIRWAY_DASK_SCHEDULER_ADDRESS": f"tcp://127.0.0.1:{dask_port}",
                    "FAIRWAY_CLAIM_TIMEOUT_SECONDS": str(args.claim_timeout),
                }
            )
            server.start()
            server.prefect("work-pool", "create", POOL, "--type", "process")
            prefect_file = root / "prefect.yaml"
            prefect_file.write_text(_variant(args.interval, args.quiet, 2))
            server.prefect("variable", "set", "fairway_inbox", str(inbox))
            server.prefect("variable", "set", "fairway_home", str(home))
            server.prefect("--no-prompt", "deploy", "--all", "--prefect-file", str(prefect_file))
            server.prefect("deployment", "schedule", "resume", "--all")
            finished: dict[str, float] = {}
            phase_seconds = {}

            w1 = server.worker("prefect-worker-1", POOL)
            batch = _drop(inbox, "one", args.per_batch)
            finished.update(batch)
            phase_seconds["one"] = _wait(catalog_url, set(batch), args.timeout)
            print(f"1 worker: {len(batch)} in {phase_seconds['one']:.1f} s", flush=True)

            w2 = server.worker("prefect-worker-2", POOL)
            time.sleep(3)  # let it poll once
            batch = _drop(inbox, "two", args.per_batch)
            finished.update(batch)
            phase_seconds["two"] = _wait(catalog_url, set(batch), args.timeout)
            print(f"2 workers: {len(batch)} in {phase_seconds['two']:.1f} s", flush=True)

            for i in range(3):  # one at a time: the latency of a file that waits for nothing
                batch = _drop(inbox, f"solo{i}", 1)
                finished.update(batch)
                _wait(catalog_url, set(batch), args.timeout)
            print("3 single acquisitions done", flush=True)

            batch = _drop(inbox, "kill", args.per_batch)
            finished.update(batch)
            started = time.monotonic()
            while not set(batch) & set(_archived(catalog_url)):
                time.sleep(0.5)
                if time.monotonic() - started > args.timeout:
                    break
            victim = max((w1, w2), key=lambda w: len(psutil.Process(w.pid).children(True)))
            _kill_tree(victim.pid)
            print(
                f"SIGKILLed a Prefect worker and its flow run after "
                f"{time.monotonic() - started:.1f} s",
                flush=True,
            )
            phase_seconds["kill"] = (time.monotonic() - started) + _wait(
                catalog_url, set(batch), args.timeout + args.claim_timeout
            )

            archived = _archived(catalog_url)
            catalog = Catalog.open(catalog_url)
            try:
                rows = catalog.acquisitions()
            finally:
                catalog.close()
            archive = home / "archive"
            bags = [p for p in archive.iterdir() if p.is_dir() and not p.name.startswith(".")]
        finally:
            procs.stop_all()
            server.close()
    load_after = Path("/proc/loadavg").read_text().split()[:3]

    ours = [s for s in finished if s in archived]
    sources = [r.source for r in rows]
    duplicates = (len(sources) - len(set(sources))) + max(0, len(bags) - len(set(sources)))

    def latency(batches: tuple[str, ...]) -> tuple[float, float]:
        """p50 and p95 of finished → archived over the acquisitions of ``batches``."""
        got = sorted(
            archived[s] - finished[s] for s in ours if Path(s).name.split("-")[0] in batches
        )
        if not got:
            return float("nan"), float("nan")
        return statistics.median(got), got[max(0, round(0.95 * len(got)) - 1)]

    n = args.per_batch
    print()
    print(
        f"served scale-out, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        f"loadavg before {' '.join(load_before)} after {' '.join(load_after)}"
    )
    print(
        f"schedule interval {args.interval} s, quiet window {args.quiet} s, "
        f"deployment concurrency 2, dask cluster 2 workers x 1 thread, catalog PostgreSQL"
    )
    print()
    print("| measure | value |")
    print("|---|---|")
    print(f"| acquisitions dropped | {len(finished)} |")
    print(f"| archived | {len(ours)} |")
    print(f"| duplicates | {duplicates} |")
    print(f"| lost | {len(finished) - len(ours)} |")
    target = args.quiet + args.interval + 10
    for label, batches in (
        ("one at a time", ("solo0", "solo1", "solo2")),
        ("batches, no failure", ("one", "two")),
        ("batch with a worker SIGKILLed", ("kill",)),
    ):
        p50, p95 = latency(batches)
        print(f"| latency finished → archived, {label}: p50 / p95 | {p50:.1f} s / {p95:.1f} s |")
    print(f"| latency target (quiet + interval + 10 s) | {target} s |")
    print(f"| throughput, 1 Prefect worker | {n / phase_seconds['one'] * 60:.1f} acq/min |")
    print(f"| throughput, 2 Prefect workers | {n / phase_seconds['two'] * 60:.1f} acq/min |")
    print(f"| ratio 2 / 1 workers | {phase_seconds['one'] / phase_seconds['two']:.2f} |")
    print(f"| batch with a worker SIGKILLed | {n} in {phase_seconds['kill']:.1f} s |")
    print(f"\nlogs in {root / 'logs'}")


if __name__ == "__main__":
    main()
