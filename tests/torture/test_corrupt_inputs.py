"""T1: corrupt and malicious inputs, made by mutating the real files of the shared corpus.

Every input must end either accepted (converted, NGFF valid) or rejected with a typed fairway
error that names the input; the worker must never crash or hang. The full run
(``-m slow``, >= 2,000 inputs) records the figures; the default run keeps a fast subset.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import pytest

from tests.torture.harness import CORPUS, record_figures, run_inputs
from tests.torture.mutate import CRAFTED, MUTATIONS

TIFF_ONLY = {"tiff-tag-inflation", "tiff-ifd-loop"}
MAX_SOURCE_BYTES = 3 * 1024**2


def _sources() -> list[Path]:
    if not (CORPUS / "SOURCES.tsv").is_file():
        pytest.skip(f"corpus not found at {CORPUS} (set FAIRWAY_CORPUS)")
    patterns = [
        "ome-tiff/*.ome.tif",
        "imagej-tiff/*.tif",
        "plain-tiff/*.tif",
        "czi/*.czi",
        "nd2/*.nd2",
        "lif/*.lif",
        "dicom/*.dcm",
    ]
    return sorted(
        p for pat in patterns for p in CORPUS.glob(pat) if p.stat().st_size <= MAX_SOURCE_BYTES
    )


def requests(n: int, seed: int = 2026, malformed_every: int = 1) -> list[dict[str, Any]]:
    """``n`` inputs: the crafted ones, every ``malformed_every``-th file of the corpus's
    malformed set (an OME-Zarr store as one folder), and mutations of the real files spread
    over sources and mutations."""
    rng = random.Random(seed)
    sources = _sources()
    out: list[dict[str, Any]] = [
        {"crafted": name, "seed": s} for name, _, _ in CRAFTED for s in range(2)
    ]
    malformed = CORPUS / "malformed"
    stores = sorted(p for p in (malformed / "ome-zarr").iterdir() if p.is_dir())
    files = sorted(
        p
        for p in malformed.rglob("*")
        if p.is_file() and not any(p.is_relative_to(store) for store in stores)
    )
    bad = [{"folder": str(p)} for p in stores] + [{"file": str(p)} for p in files]
    out += bad[::malformed_every]
    while len(out) < n:
        source = rng.choice(sources)
        tiff = source.suffix.lower() in {".tif", ".tiff"}
        names = [m for m in MUTATIONS if tiff or m not in TIFF_ONLY]
        out.append(
            {"source": str(source), "mutation": rng.choice(names), "seed": rng.randrange(10**9)}
        )
    return out


def summarise(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The T1 figures of a run."""
    outcomes: dict[str, int] = {}
    for r in results:
        outcomes[r["outcome"]] = outcomes.get(r["outcome"], 0) + 1
    typed = [r for r in results if r["outcome"] == "rejected"]
    good = sum(1 for r in results if r["outcome"] == "accepted") + sum(
        1 for r in typed if r.get("names_input")
    )
    seconds = sorted(r.get("seconds", 0.0) for r in results)
    return {
        "inputs": len(results),
        "outcomes": outcomes,
        "accepted_or_typed_rejection_naming_input_percent": round(100 * good / len(results), 2),
        "typed_errors": sorted({r.get("error", "") for r in typed}),
        "untyped_errors": sorted(
            {r.get("error", "") for r in results if r["outcome"] == "untyped"}
        ),
        "worker_crashes": outcomes.get("crash", 0),
        "hangs": outcomes.get("hang", 0),
        "max_peak_rss_mb": max((r.get("peak_rss_mb", 0) for r in results), default=0),
        "max_seconds": seconds[-1] if seconds else 0,
        "p95_seconds": seconds[int(0.95 * (len(seconds) - 1))] if seconds else 0,
        "failures": [
            {k: r.get(k) for k in ("request", "outcome", "error", "message")}
            for r in results
            if r["outcome"] not in {"accepted", "rejected"}
            or (r["outcome"] == "rejected" and not r.get("names_input"))
        ][:20],
    }


def _check(figures: dict[str, Any]) -> None:
    assert figures["worker_crashes"] == 0, figures["failures"]
    assert figures["hangs"] == 0, figures["failures"]
    assert figures["accepted_or_typed_rejection_naming_input_percent"] == 100.0, figures["failures"]


def test_corrupt_inputs_fast_subset(tmp_path: Path) -> None:
    figures = summarise(
        run_inputs(requests(48, seed=7, malformed_every=4), tmp_path, workers=2, timeout=60)
    )
    _check(figures)


@pytest.mark.slow
def test_corrupt_inputs_full(tmp_path: Path) -> None:
    n = int(os.environ.get("FAIRWAY_TORTURE_N", "2000"))
    figures = summarise(run_inputs(requests(n), tmp_path, workers=2, timeout=60))
    record_figures("T1 corrupt and malicious inputs", figures)
    _check(figures)
