"""New metadata versions of an archived bag, beside pixel data that is never rewritten.

A curator's fix gives the archived dataset a new RO-Crate, record, validation report and OME
metadata (``OME/METADATA.ome.xml``, and the NGFF ``scale`` when a pixel size changed). The
files of the version being replaced are kept under ``data/metadata/versions/v<N>/`` and listed
in ``data/metadata/versions.json``; ``read_version`` returns any of them.

Commit protocol (a crash leaves the old version or the new one, never a mix):

1. Everything new is written under ``<bag>/.fairway-update/`` (new files, copies of the old
   ones, the new manifests), and fsync'd.
2. ``journal.json`` is written there last: the commit point.
3. The journal's moves are applied with ``os.replace`` (manifests last) and the folder is
   removed. :func:`recover` finishes a committed journal, or drops an uncommitted one; every
   update and every fixity check runs it first.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.errors import TargetError
from core.files import fsync_dir, fsync_tree
from core.records import MetadataRecord, ValidationReport
from targets.bagfiles import MANIFEST, TAGMANIFEST, write_tag_files
from targets.crate import write_crate_metadata
from targets.package import RECORD_FILE, REPORT_FILE

__all__ = [
    "MetadataVersion",
    "list_versions",
    "metadata_view",
    "read_version",
    "read_version_report",
    "recover",
    "write_version",
]

UPDATE_DIR = ".fairway-update"
JOURNAL = "journal.json"
VERSIONS_FILE = "metadata/versions.json"
CRATE_FILE = "ro-crate-metadata.json"
OME_FILE = "OME/METADATA.ome.xml"


@dataclass(frozen=True)
class MetadataVersion:
    """One metadata version of an archived dataset."""

    version: int
    at: str
    actor: str
    reason: str
    changed: tuple[str, ...]


def recover(bag: Path) -> bool:
    """Finish or drop an interrupted update of ``bag``; whether a committed one was finished."""
    work = bag / UPDATE_DIR
    if not work.exists():
        return False
    journal = work / JOURNAL
    if not journal.is_file():
        shutil.rmtree(work, ignore_errors=True)
        return False
    moves = json.loads(journal.read_text(encoding="utf-8"))["moves"]
    for src, dst in moves:
        source, target = work / src, bag / dst
        if source.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(source, target)
    fsync_tree(bag / "data" / "metadata")
    fsync_dir(bag)
    shutil.rmtree(work, ignore_errors=True)
    return True


def list_versions(bag: Path) -> list[MetadataVersion]:
    """The dataset's metadata versions, oldest first (version 1 is the one archived first)."""
    path = bag / "data" / VERSIONS_FILE
    if not path.is_file():
        return [MetadataVersion(1, "", "fairway", "archived", ())]
    return [
        MetadataVersion(v["version"], v["at"], v["actor"], v["reason"], tuple(v["changed"]))
        for v in json.loads(path.read_text(encoding="utf-8"))["versions"]
    ]


def read_version(bag: Path, version: int | None = None) -> MetadataRecord:
    """The record of metadata version ``version`` (default: the current one).

    Raises
    ------
    TargetError
        The dataset has no such version.
    """
    versions = list_versions(bag)
    current = versions[-1].version
    if version is None or version == current:
        path = bag / "data" / RECORD_FILE
    else:
        path = bag / "data" / "metadata" / "versions" / f"v{version}" / "record.json"
    if not path.is_file():
        raise TargetError(
            f"no metadata version {version}",
            where=bag,
            hint=f"versions: {', '.join(str(v.version) for v in versions)}",
        )
    return MetadataRecord.model_validate_json(path.read_text(encoding="utf-8"))


def read_version_report(bag: Path, version: int | None = None) -> ValidationReport:
    """The validation report archived with metadata version ``version`` (default: current).

    Raises
    ------
    TargetError
        The dataset has no such version.
    """
    versions = list_versions(bag)
    if version is None or version == versions[-1].version:
        path = bag / "data" / REPORT_FILE
    else:
        path = bag / "data" / "metadata" / "versions" / f"v{version}" / "validation.json"
    if not path.is_file():
        raise TargetError(
            f"no metadata version {version}",
            where=bag,
            hint=f"versions: {', '.join(str(v.version) for v in versions)}",
        )
    return ValidationReport.model_validate_json(path.read_text(encoding="utf-8"))


def _scaled(zattrs: dict[str, Any], factors: dict[str, float]) -> dict[str, Any]:
    """NGFF attributes with each level's scale on the named axes multiplied by ``factors``."""
    ome = zattrs.get("ome", zattrs)
    for ms in ome.get("multiscales", []):
        names = [a["name"] for a in ms.get("axes", [])]
        for ds in ms.get("datasets", []):
            for t in ds.get("coordinateTransformations", []):
                if t.get("type") == "scale":
                    t["scale"] = [v * factors.get(names[i], 1.0) for i, v in enumerate(t["scale"])]
    return zattrs


def write_version(
    bag: Path,
    record: MetadataRecord,
    report: ValidationReport,
    *,
    changed: list[str],
    actor: str,
    reason: str,
    tool_version: str,
) -> MetadataVersion:
    """Commit a new metadata version of the bag at ``bag``; pixel data is not touched.

    Raises
    ------
    TargetError
        The bag cannot be updated; it is left at its previous version.
    """
    recover(bag)
    data = bag / "data"
    dataset = bag.name
    zarr_name = f"{dataset}.ome.zarr"
    versions = list_versions(bag)
    old = versions[-1].version
    new = MetadataVersion(
        old + 1, datetime.now(UTC).isoformat(), actor, reason, tuple(sorted(changed))
    )
    work = bag / UPDATE_DIR
    shutil.rmtree(work, ignore_errors=True)
    try:
        work.mkdir()
        files: dict[str, bytes] = {}  # payload-relative path -> new content
        keep = f"metadata/versions/v{old}"
        for rel, name in (
            (RECORD_FILE, "record.json"),
            (REPORT_FILE, "validation.json"),
            (CRATE_FILE, CRATE_FILE),
            (f"{zarr_name}/{OME_FILE}", "METADATA.ome.xml"),
        ):
            if (data / rel).is_file():
                files[f"{keep}/{name}"] = (data / rel).read_bytes()
        files |= _image_metadata(data, zarr_name, record)
        files[RECORD_FILE] = record.model_dump_json(indent=2).encode("utf-8")
        files[REPORT_FILE] = report.model_dump_json(indent=2).encode("utf-8")
        history = [v.__dict__ | {"changed": list(v.changed)} for v in (*versions, new)]
        files[VERSIONS_FILE] = (json.dumps({"versions": history}, indent=2) + "\n").encode()
        crate_dir = work / "crate"
        crate_dir.mkdir()
        write_crate_metadata(
            crate_dir,
            dataset,
            zarr_name,
            record,
            report,
            [RECORD_FILE, REPORT_FILE, VERSIONS_FILE],
            tool_version,
            sizes={rel: len(files[rel]) for rel in (RECORD_FILE, REPORT_FILE, VERSIONS_FILE)},
        )
        files[CRATE_FILE] = (crate_dir / CRATE_FILE).read_bytes()
        shutil.rmtree(crate_dir)
        moves = _stage(bag, work, files)
        fsync_tree(work)
        (work / JOURNAL).write_text(json.dumps({"moves": moves}), encoding="utf-8")
        fsync_dir(work)
    except OSError as exc:
        shutil.rmtree(work, ignore_errors=True)
        raise TargetError(
            f"cannot write a new metadata version: {exc}",
            where=bag,
            hint="check free space and permissions; the archived version is unchanged",
        ) from exc
    recover(bag)
    return new


def _image_metadata(data: Path, zarr_name: str, record: MetadataRecord) -> dict[str, bytes]:
    """The OME-Zarr's metadata files as ``record`` wants them (payload-relative path -> bytes).

    The OME-XML copy, and the ``zarr.json`` of the first image (and its labels) when the
    record's pixel size differs from the level-0 ``scale``: every level's scale follows, the
    chunks do not move.
    """
    files = {f"{zarr_name}/{OME_FILE}": record.ome_xml.encode("utf-8")}
    store = data / zarr_name
    series = ["0"]
    root_meta = store / "zarr.json"
    ome_meta = store / "OME" / "zarr.json"
    if root_meta.is_file() and "multiscales" in (
        json.loads(root_meta.read_text(encoding="utf-8")).get("attributes", {}).get("ome", {})
    ):
        series = [""]  # the store is the image
    elif ome_meta.is_file():
        attrs = json.loads(ome_meta.read_text(encoding="utf-8")).get("attributes", {})
        series = [str(k) for k in attrs.get("ome", attrs).get("series", series)]
    if not series or not (store / series[0]).is_dir():
        return files
    wanted = {
        axis: float(v)
        for axis in "xyz"
        if isinstance(v := record.value(f"pixels.physical_size_{axis}"), int | float) and v > 0
    }
    for meta in sorted((store / series[0]).glob("**/zarr.json")):
        doc = json.loads(meta.read_text(encoding="utf-8"))
        ms = doc.get("attributes", {}).get("ome", {}).get("multiscales")
        if not ms:
            continue
        names = [a["name"] for a in ms[0].get("axes", [])]
        base: list[float] = next(
            (t["scale"] for t in ms[0]["datasets"][0].get("coordinateTransformations", [])
             if t.get("type") == "scale"),
            [],
        )  # fmt: skip
        factors = {
            axis: size / base[names.index(axis)]
            for axis, size in wanted.items()
            if axis in names and base and base[names.index(axis)] != size
        }
        units = _missing_units(ms[0], record, set(wanted))
        if factors or units:
            doc["attributes"] = _scaled(doc["attributes"], factors)
            for axis in ms[0]["axes"]:
                axis.setdefault("unit", units.get(axis["name"]))
                if axis["unit"] is None:
                    del axis["unit"]
            rel = meta.relative_to(data).as_posix()
            files[rel] = (json.dumps(doc, indent=2) + "\n").encode("utf-8")
    return files


def _missing_units(ms: dict[str, Any], record: MetadataRecord, axes: set[str]) -> dict[str, str]:
    """NGFF units for spatial axes that have none but now have a curated pixel size."""
    out = {}
    for axis in ms.get("axes", []):
        name = axis.get("name")
        if name in axes and "unit" not in axis:
            from core.omeutil import ngff_length_unit  # ome-types: not for `fairway show`

            unit = ngff_length_unit(record.value(f"pixels.physical_size_{name}_unit") or "µm")
            if unit is not None:
                out[name] = unit
    return out


@contextmanager
def metadata_view(bag: Path, record: MetadataRecord) -> Iterator[Path]:
    """A throw-away OME-Zarr holding only the metadata the new version would have.

    Validation of a curated record reads it, so the report written with a version describes
    that version. No chunk is copied: the checks read metadata only.
    """
    data = bag / "data"
    zarr_name = f"{bag.name}.ome.zarr"
    with tempfile.TemporaryDirectory(prefix="fairway-view-") as tmp:
        view = Path(tmp) / zarr_name
        for meta in (data / zarr_name).glob("**/zarr.json"):
            target = view / meta.relative_to(data / zarr_name)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(meta, target)
        for rel, content in _image_metadata(data, zarr_name, record).items():
            target = Path(tmp) / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
        yield view


def _stage(bag: Path, work: Path, files: dict[str, bytes]) -> list[tuple[str, str]]:
    """Write new payload files and the new tag files into ``work``; the moves to apply."""
    moves: list[tuple[str, str]] = []
    for n, (rel, content) in enumerate(sorted(files.items())):
        staged = work / "payload" / f"{n:04d}"
        staged.parent.mkdir(parents=True, exist_ok=True)
        staged.write_bytes(content)
        moves.append((staged.relative_to(work).as_posix(), f"data/{rel}"))
    write_tag_files(bag, work / "tags", {f"data/{rel}": c for rel, c in files.items()})
    moves += [(f"tags/{name}", name) for name in ("bag-info.txt", MANIFEST, TAGMANIFEST)]
    return moves
