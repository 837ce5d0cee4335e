"""A worker process that runs fairway's steps on one hostile input at a time.

``python -m tests.torture.worker HOME`` reads one JSON request per line on stdin::

    {"source": "/corpus/x.tif", "mutation": "bit-flips", "seed": 7}   # a mutated real file
    {"crafted": "size-bomb", "seed": 1}                              # an input made from nothing
    {"file": "/corpus/malformed/y.tif"}                              # a file as it is

and answers one JSON line each: the outcome (``accepted``: converted and the NGFF checks pass;
``rejected``: a typed fairway error; ``untyped``: any other exception), the error type, whether
the message names the input, the seconds taken and the peak RSS of that input (Linux's
``VmHWM``, reset before each input). The parent kills and restarts the worker when an input
hangs or the process dies: those are the failures the test counts.

The input is written to a fresh inbox and goes through scan, fingerprint, extraction (DICOM:
de-identified), conversion to a staging folder and validation, as in the flow, without the
catalog. Nothing is written outside the worker's own folders.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any


def _peak_rss_reset() -> None:
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def _peak_rss_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _input_bytes(req: dict[str, Any]) -> tuple[str, bytes]:
    from tests.torture.mutate import CRAFTED, MUTATIONS

    if "crafted" in req:
        name, suffix, maker = next(c for c in CRAFTED if c[0] == req["crafted"])
        return f"{name}-{req['seed']}{suffix}", maker(int(req["seed"]))
    if "file" in req:
        path = Path(req["file"])
        return path.name, path.read_bytes()
    if "folder" in req:
        return Path(req["folder"]).name, b""
    source = Path(req["source"])
    suffix = "".join(source.suffixes[-2:]) if source.name.endswith(".ome.tif") else source.suffix
    data = MUTATIONS[req["mutation"]](source.read_bytes(), int(req["seed"]))
    return f"{req['mutation']}-{req['seed']}-{source.stem.split('.')[0]}{suffix}", data


def run_one(req: dict[str, Any], settings: Any, work: Path) -> dict[str, Any]:
    """Process one request; never raises."""
    from converters import write_ome_zarr
    from core.errors import FairwayError
    from core.omeutil import parse_ome
    from ingest import CompletionPolicy, fingerprint, scan, split_complete
    from ingest.dicom import DICOM_KIND
    from metadata import extract
    from metadata.dicom_source import series_files
    from validators import check_ngff

    inbox = work / "inbox"
    staging = work / "staging"
    shutil.rmtree(work, ignore_errors=True)
    inbox.mkdir(parents=True)
    started = time.perf_counter()
    _peak_rss_reset()
    name = "?"
    out: dict[str, Any] = {"request": req}
    try:
        name, data = _input_bytes(req)
        if "folder" in req:
            shutil.copytree(req["folder"], inbox / name)
        else:
            (inbox / name).write_bytes(data)
        old = time.time() - 3 * 24 * 3600  # finished long ago: the windows are not tested here
        for path in [inbox / name, *(inbox / name).rglob("*")]:
            os.utime(path, (old, old))
        cands = scan([inbox], max_xml_bytes=settings.max_xml_bytes)
        complete, pending = split_complete(cands, CompletionPolicy(quiet_seconds=0))
        if not complete:
            out.update(outcome="ignored", error="", names_input=True, pending=len(pending))
        for cand in complete:
            acq = fingerprint(cand)
            record = extract(acq, settings)
            dest = staging / "out.ome.zarr"
            ome, _ = parse_ome(record.ome_xml)
            dicom = acq.kind == DICOM_KIND
            write_ome_zarr(
                acq.source if dicom else acq.primary.path,
                acq.kind,
                ome,
                record.ome_xml,
                dest,
                settings,
                members=series_files(acq.source, [(f.path, f.relpath) for f in acq.files])
                if dicom
                else (),
            )
            errors = [f for f in check_ngff(dest) if f.severity.value == "error"]
            out.update(
                outcome="accepted" if not errors else "invalid-output", error="", names_input=True
            )
    except FairwayError as exc:
        text = str(exc)
        out.update(
            outcome="rejected",
            error=type(exc).__name__,
            names_input=bool(exc.where)
            and (name in text or "dicom-" in text or str(inbox) in text),
            message=text[:300],
        )
    except Exception as exc:  # noqa: BLE001 - this is what the torture test is looking for
        out.update(
            outcome="untyped",
            error=type(exc).__name__,
            names_input=False,
            message=f"{exc}"[:300],
            trace=traceback.format_exc()[-1500:],
        )
    needle = os.environ.get("FAIRWAY_TORTURE_NEEDLE", "").encode()
    if needle:  # a secret the input tries to pull in must not show up in anything written
        written = [p for p in work.rglob("*") if p.is_file() and p.stat().st_size < 64 * 1024**2]
        out["needle_hits"] = sum(p.read_bytes().count(needle) for p in written) + str(
            out.get("message", "")
        ).encode().count(needle)
    out.update(
        seconds=round(time.perf_counter() - started, 3),
        peak_rss_mb=round(_peak_rss_mb(), 1),
        name=name,
    )
    return out


def main() -> int:
    """Serve requests from stdin until it closes."""
    import warnings

    warnings.simplefilter("ignore")
    from core.settings import load_settings

    home = Path(sys.argv[1])
    settings = load_settings(home, quiet_seconds=0, workers=1, memory_limit_bytes=512 * 1024**2)
    work = Path(tempfile.mkdtemp(prefix="torture-", dir=home))
    for line in sys.stdin:
        if not line.strip():
            continue
        result = run_one(json.loads(line), settings, work)
        sys.stdout.write(json.dumps(result) + "\n")
        sys.stdout.flush()
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
