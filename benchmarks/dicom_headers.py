"""DICOM header extraction speed: fairway beside plain pydicom, on the same files, in one run.

Generates a CT series of N small instances (default 2,000) from pydicom's ``CT_small.dcm``
(a real scanner header of 258 attributes, private tags included) with new UIDs and
positions -- or, with ``--canaries``, instances carrying a value in every Annex E attribute
that can hold one (about 600, sequences three deep: a worst case) -- then measures files
per second for:

* ``pydicom.dcmread`` (whole file) and ``dcmread(stop_before_pixels=True)``;
* fairway's grouping scan (series UIDs only);
* fairway's extraction: headers with the completeness check, PS3.15 Annex E
  de-identification of every header, and the record fields (``describe_dicom``).

Target on the 2-core machine: >= 1,000 files/s for fairway's extraction.

    python benchmarks/dicom_headers.py [--n 2000]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pydicom

from catalog.pseudonyms import PseudonymStore
from core.settings import load_settings
from ingest import scan
from metadata.dicom_source import describe_dicom
from tests.factories import make_dicom_series


def _rate(n: int, seconds: float) -> str:
    return f"{n / seconds:8.0f} files/s ({seconds:6.2f} s)"


def _ct_series(folder: Path, n: int) -> list[Path]:
    from pydicom.data import get_testdata_file
    from pydicom.uid import generate_uid

    folder.mkdir(parents=True)
    template = pydicom.dcmread(str(get_testdata_file("CT_small.dcm")))
    series = generate_uid()
    files = []
    for i in range(n):
        template.SeriesInstanceUID = series
        template.SOPInstanceUID = generate_uid()
        template.file_meta.MediaStorageSOPInstanceUID = template.SOPInstanceUID
        template.InstanceNumber = i + 1
        template.ImagePositionPatient = [0.0, 0.0, 1.25 * i]
        path = folder / f"CT{i:06d}.dcm"
        template.save_as(path)
        files.append(path)
    return files


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--canaries", action="store_true", help="worst-case headers (see above)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="fairway-dicom-bench-"))
    try:
        if args.canaries:
            files, _, covered = make_dicom_series(work / "series", n=args.n, rows=64, cols=64)
            kind = f"{covered} Annex E attributes each carrying a value"
        else:
            files = _ct_series(work / "series", args.n)
            kind = "CT_small.dcm headers (258 attributes)"
        mib = sum(f.stat().st_size for f in files) / 1024**2
        print(f"{len(files)} instances, {mib:.1f} MiB, {kind}")
        results: list[tuple[str, float]] = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t = time.perf_counter()
            for f in files:
                pydicom.dcmread(f)
            results.append(("pydicom.dcmread (whole file)", time.perf_counter() - t))
            t = time.perf_counter()
            for f in files:
                pydicom.dcmread(f, stop_before_pixels=True)
            results.append(("pydicom.dcmread(stop_before_pixels)", time.perf_counter() - t))
        settings = load_settings(work / "home")
        store = PseudonymStore.from_settings(settings)
        key = store.key()
        t = time.perf_counter()
        [cand] = [c for c in scan([work / "series"], dicom_key=key) if c.kind == "dicom"]
        results.append(("fairway scan (group into series)", time.perf_counter() - t))
        t = time.perf_counter()
        describe_dicom(cand.source, [(f.path, f.relpath) for f in cand.files], settings, store)
        results.append(("fairway extract (check + de-identify + map)", time.perf_counter() - t))
        store.close()
        plain = results[0][1]
        for name, seconds in results:
            print(f"{name:45s} {_rate(len(files), seconds)}  {plain / seconds:5.2f}x dcmread")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
