"""T6 security negatives: hostile XML, paths and polyglots through every entry point.

* XXE (an external entity naming a canary file), billion-laughs / quadratic-blowup XML and
  a 100,000-deep element nest in an OME-TIFF's description and in a ``.companion.ome``:
  refused in < 1 s, < 100 MB more RSS;
* sidecars: YAML alias bombs, keys with ``/``, ``..``, NUL, 4 KB values, deep nesting (up to
  100,000 levels of YAML and JSON, refused in < 1 s);
* bag manifests naming ``../`` or absolute paths: reported by ``verify``, nothing read or
  written outside the bag;
* OME names with ``/``, ``..``, NUL and 4 KB: converted, nothing written outside staging;
* DICOM files whose preamble is a PE or ELF header: refused.

Every case runs in the torture worker (its own process and folders); afterwards no file
carrying the canary exists outside the test's folder. The full run records the figures.
"""

from __future__ import annotations

import io
import os
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile

from core.errors import TargetError
from tests.torture.harness import record_figures, run_inputs

CANARY = f"FAIRWAY-CANARY-{uuid.uuid4().hex[:12]}"


def _ome(extra: str = "", name: str = "img") -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        + extra
        + '<OME xmlns="http://www.openmicroscopy.org/'
        'Schemas/OME/2016-06"><Image ID="Image:0" Name="' + name + '"><Pixels ID="Pixels:0" '
        'DimensionOrder="XYZCT" Type="uint8" SizeX="16" SizeY="16" SizeZ="1" SizeC="1" SizeT="1">'
        '<Channel ID="Channel:0:0" SamplesPerPixel="1"/><TiffData/></Pixels></Image></OME>'
    )


def _tiff(path: Path, description: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    tifffile.imwrite(buf, np.zeros((16, 16), np.uint8), description=description, metadata=None)
    path.write_bytes(buf.getvalue())


SECRET_FILE = Path(f"/tmp/{CANARY}.secret")  # what an external entity would pull in
SECRET = f"XXE-LEAKED-{CANARY}"
XXE = f'<!DOCTYPE OME [<!ENTITY x SYSTEM "file://{SECRET_FILE}">]>'
LAUGHS = (
    '<!DOCTYPE OME [<!ENTITY a "lol">'
    + "".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(9))
    + "]>"
)
QUADRATIC = '<!DOCTYPE OME [<!ENTITY q "' + "q" * 50_000 + '">]>'
YAML_BOMB = "a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 9) + "]\n" for i in range(8)
)


def cases(root: Path) -> list[tuple[str, dict[str, Any], str]]:
    """(case name, worker request, expected outcome) for every hostile input."""
    out: list[tuple[str, dict[str, Any], str]] = []

    def folder(name: str, expected: str, build: Any) -> None:
        d = root / name
        d.mkdir(parents=True)
        build(d)
        out.append((name, {"folder": str(d)}, expected))

    bombs = (
        ("xxe", XXE, "&x;"),
        ("billion-laughs", LAUGHS, "&j;"),
        ("quadratic", QUADRATIC, "&q;"),
    )
    for label, doctype, reference in bombs:
        xml = _ome(doctype, name=reference)

        def in_tiff(d: Path, text: str = xml) -> None:
            _tiff(d / "a.ome.tif", text)

        def companion(d: Path, text: str = xml) -> None:
            _tiff(d / "p.ome.tif", "")
            member = '<TiffData><UUID FileName="p.ome.tif">urn:uuid:1</UUID></TiffData>'
            (d / "p.companion.ome").write_text(text.replace("<TiffData/>", member), "utf-8")

        folder(f"{label}-ome-tiff", "rejected", in_tiff)
        folder(f"{label}-companion", "rejected", companion)

    deep = _ome().replace(
        "</OME>",
        '<StructuredAnnotations><XMLAnnotation ID="Annotation:0"><Value>'
        + "<a>" * 100_000
        + "</a>" * 100_000
        + "</Value></XMLAnnotation></StructuredAnnotations></OME>",
    )

    def deep_tiff(d: Path) -> None:
        _tiff(d / "a.ome.tif", deep)

    def deep_companion(d: Path) -> None:
        _tiff(d / "p.ome.tif", "")
        member = '<TiffData><UUID FileName="p.ome.tif">urn:uuid:1</UUID></TiffData>'
        (d / "p.companion.ome").write_text(deep.replace("<TiffData/>", member), "utf-8")

    folder("xml-deep-nest-ome-tiff", "rejected", deep_tiff)
    folder("xml-deep-nest-companion", "rejected", deep_companion)

    def sidecar(text: str, suffix: str = "yaml") -> Any:
        def build(d: Path) -> None:
            _tiff(d / "a.ome.tif", _ome())
            (d / f"fairway.{suffix}").write_text(text, encoding="utf-8")

        return build

    folder("sidecar-yaml-alias-bomb", "rejected", sidecar(YAML_BOMB))
    folder("sidecar-key-dotdot", "rejected", sidecar('{"..": {"x": 1}}', "json"))
    folder("sidecar-key-slash", "rejected", sidecar(f'{{"study/../../{CANARY}": 1}}', "json"))
    folder("sidecar-key-nul", "rejected", sidecar('{"study\\u0000x": 1}', "json"))
    folder("sidecar-deep-nesting", "rejected", sidecar('{"a":' * 200 + "1" + "}" * 200, "json"))
    # issue 13.2: 100,000 levels in 200 KB (quadratic in PyYAML's scanner, then recursion)
    deep = "[" * 100_000 + "]" * 100_000
    folder("sidecar-yaml-deep-list", "rejected", sidecar(f"study:\n  title: {deep}\n"))
    folder("sidecar-json-deep-list", "rejected", sidecar(f'{{"study": {deep}}}', "json"))
    folder("sidecar-csv-path-key", "rejected", sidecar(f"field,value\n../../{CANARY},1\n", "csv"))
    for label, value, expected in (
        ("slash", f"../../{CANARY}/x", "accepted"),
        ("dotdot", "..", "accepted"),
        ("long", "n" * 4096, "accepted"),
        ("nul", "a\u0000b", "accepted|rejected"),  # not XML at all: refused, or read leniently
    ):

        def named(d: Path, v: str = value) -> None:
            _tiff(d / "a.ome.tif", _ome(name=v))

        folder(f"ome-name-{label}", expected, named)
    out.append(("dicom-pe-preamble", {"crafted": "executable-preamble", "seed": 0}, "rejected"))
    out.append(("dicom-elf-preamble", {"crafted": "executable-preamble", "seed": 1}, "rejected"))
    return out


def _bag_cases(root: Path) -> list[tuple[str, bool]]:
    """Bags whose manifests point outside them: (case, reported without touching outside)."""
    from targets import LocalArchive
    from targets.copies import BagCopy, FolderStore

    results = []
    for label, entry in (("dotdot", f"../{CANARY}.txt"), ("absolute", f"/tmp/{CANARY}.txt")):
        archive = LocalArchive(root / f"archive-{label}")
        payload = root / f"payload-{label}"
        (payload / "d").mkdir(parents=True)
        (payload / "d" / "x.txt").write_text("x", encoding="utf-8")
        archive.publish("fw-evil", payload, {})
        bag = archive.root / "fw-evil"
        with (bag / "manifest-sha256.txt").open("a", encoding="utf-8") as fh:
            fh.write(f"{'0' * 64}  data/{entry}\n")
        primary = archive.verify("fw-evil")
        copy = BagCopy("nas", FolderStore(root / f"nas-{label}"))
        try:
            copy.sync("fw-evil", bag)
            synced = False
        except TargetError:
            synced = True
        results.append((f"bag-manifest-{label}", bool(primary) and synced))
    return results


def _outside_hits(root: Path) -> int:
    hits = 0
    for base in (Path("/tmp"), root.parent.parent, Path.cwd()):
        for dirpath, _dirs, names in os.walk(base):
            if Path(dirpath).is_relative_to(root):
                continue
            hits += sum(CANARY in n and Path(dirpath, n) != SECRET_FILE for n in names)
            if dirpath.count(os.sep) - str(base).count(os.sep) > 3:
                _dirs.clear()
    return hits


def run_security(root: Path) -> dict[str, Any]:
    """Run every case; the T6 figures."""
    started = time.perf_counter()
    built = cases(root / "cases")
    SECRET_FILE.write_text(SECRET, encoding="utf-8")
    os.environ["FAIRWAY_TORTURE_NEEDLE"] = SECRET  # each worker searches what it wrote
    try:
        results = run_inputs([req for _, req, _ in built], root / "work", workers=2, timeout=30)
    finally:
        del os.environ["FAIRWAY_TORTURE_NEEDLE"]
        SECRET_FILE.unlink(missing_ok=True)
    canary_hits = sum(r.get("needle_hits", 0) for r in results)
    rows = []
    for (name, _req, expected), result in zip(built, results, strict=True):
        rows.append(
            {
                "case": name,
                "expected": expected,
                "outcome": result["outcome"],
                "error": result.get("error"),
                "seconds": result.get("seconds", 0),
                "peak_rss_mb": result.get("peak_rss_mb", 0),
                "ok": result["outcome"] in expected.split("|"),
            }
        )
    for name, ok in _bag_cases(root / "bags"):
        outcome = "reported" if ok else "missed"
        rows.append(
            {"case": name, "expected": "reported", "outcome": outcome, "ok": ok, "seconds": 0}
        )
    baseline = min(r["peak_rss_mb"] for r in rows if r.get("peak_rss_mb"))
    bombs = [
        r
        for r in rows
        if any(k in r["case"] for k in ("xxe", "laughs", "quadratic", "alias", "deep"))
    ]
    return {
        "cases": len(rows),
        "rejected_percent": round(100 * sum(r["ok"] for r in rows) / len(rows), 2),
        "max_seconds": max(r["seconds"] for r in bombs),
        "max_rss_growth_mb": round(max(r.get("peak_rss_mb", 0) for r in bombs) - baseline, 1),
        "files_written_outside_home": _outside_hits(root),
        "canary_hits": canary_hits,
        "missed": [r for r in rows if not r["ok"]],
        "seconds_total": round(time.perf_counter() - started, 1),
    }


def _check(figures: dict[str, Any]) -> None:
    assert figures["rejected_percent"] == 100.0, figures["missed"]
    assert figures["canary_hits"] == 0
    assert figures["max_seconds"] < 1.0
    assert figures["max_rss_growth_mb"] < 100
    assert figures["files_written_outside_home"] == 0


def test_security_negatives_fast(tmp_path: Path) -> None:
    _check(run_security(tmp_path))


@pytest.mark.slow
def test_security_negatives_full(tmp_path: Path) -> None:
    figures = run_security(tmp_path)
    record_figures("T6 security negatives", figures)
    _check(figures)
