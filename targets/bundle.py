"""``fairway get``: a FAIR bundle a researcher can take away, open and cite.

The bundle is a folder ``DEST/<dataset>/`` holding

* the OME-Zarr, read from the archive and **verified** against the archive's manifest after
  the copy (a damaged archive is refused, pointing at ``fairway repair``);
* ``ro-crate-metadata.json``: name, description, licence, authors, organism, imaging method
  with its FBbi term, instrument, dates, the gap report, the checksums file, and the
  provenance of every step (from the catalog's events) with the tool versions;
* ``metadata/record.json``, ``metadata/validation.json``, ``gap-report.md``;
* ``checksums-sha256.txt`` (every file of the bundle);
* ``index.html``: a landing page with a thumbnail, the metadata table, the FAIR level and how
  to open the data in napari.

It is assembled as ``DEST/.<dataset>.partial`` and renamed last. An embargoed dataset (release
date in the future) or one below its profile's level is refused with the reason.
"""

from __future__ import annotations

import base64
import html
import json
import shutil
from datetime import UTC, date, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
import zarr

from core.errors import TargetError
from core.files import building_folder, file_digest
from core.records import FAIR_LEVELS, MetadataRecord, ValidationReport
from core.release import NotReleasedError, check_release
from targets.bagfiles import payload_entries
from targets.crate import FAIRWAY_URL, build_crate, write_crate
from targets.package import RECORD_FILE, REPORT_FILE
from validators.ngff import image_group, image_paths
from validators.report import report_markdown

__all__ = [
    "NotFetchableError",
    "copy_verified",
    "first_image_path",
    "make_bundle",
    "open_path",
    "thumbnail_png",
]

TOOLS = (
    "fairway",
    "tifffile",
    "zarr",
    "ome-zarr-models",
    "ome-types",
    "bioio",
    "pydicom",
    "numcodecs",
)


CHECKSUMS_FILE = "checksums-sha256.txt"

#: the refusal of a dataset that may not leave (the release policy's error, under its old name)
NotFetchableError = NotReleasedError


def _versions() -> dict[str, str]:
    out = {}
    for name in TOOLS:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            continue
    return out


def check_fetchable(record: MetadataRecord, report: ValidationReport, today: date) -> None:
    """Refuse an embargoed dataset or one below its profile's level (the release policy)."""
    check_release(record, report, today)


def first_image_path(store: Path) -> str:
    """Where a reader opens the store's first image, relative to the store.

    ``""`` when the store is itself the image (one image: fairway's default), ``"0"`` for the
    first series of the bioformats2raw layout, ``"A/1/0"`` for a plate's first field.
    """
    paths = image_paths(zarr.open_group(str(store), mode="r"))
    return paths[0] if paths else ""


def open_path(store: Path) -> str:
    """The path a reader (napari, ome-zarr-py, zarr) is given to open the first image."""
    inner = first_image_path(store)
    return f"{store}/{inner}" if inner else str(store)


def _first_image(store: Path) -> tuple[Any, list[str], list[dict[str, Any]]]:
    """The lowest level of the first image, its axis names and its omero channels."""
    root: Any = zarr.open_group(str(store), mode="r")
    group: Any = image_group(root, first_image_path(store))
    attrs: Any = dict(group.attrs)
    ome = attrs.get("ome", attrs)
    ms = ome["multiscales"][0]
    axes = [str(a["name"]) for a in ms["axes"]]
    lowest = group[ms["datasets"][-1]["path"]]
    channels = list((ome.get("omero") or {}).get("channels", []))
    return lowest, axes, channels


def thumbnail_png(store: Path, size: int = 256) -> bytes:
    """A PNG of the image's lowest resolution.

    Middle Z, first time point, up to 3 channels in their display colours, each stretched
    between its 0.5 and 99.5 percentiles.
    """
    import imagecodecs

    arr, axes, channels = _first_image(store)
    index: list[Any] = []
    for axis, n in zip(axes, arr.shape, strict=True):
        if axis == "t":
            index.append(0)
        elif axis == "z":
            index.append(n // 2)
        elif axis == "c":
            index.append(slice(0, min(n, 3)))
        else:
            index.append(slice(None))
    plane = np.asarray(arr[tuple(index)], dtype=np.float64)
    if "c" not in axes:
        plane = plane[np.newaxis]
    step = max(1, int(np.ceil(max(plane.shape[-2:]) / size)))
    plane = plane[:, ::step, ::step]
    rgb = np.zeros((*plane.shape[-2:], 3))
    default = ["FF0000", "00FF00", "0000FF"] if plane.shape[0] > 1 else ["FFFFFF"]
    for k, channel in enumerate(plane):
        lo, hi = np.percentile(channel, [0.5, 99.5])
        scaled = np.clip((channel - lo) / (hi - lo if hi > lo else 1.0), 0, 1)
        colour = str((channels[k] if k < len(channels) else {}).get("color") or default[k])
        weights = [int(colour[i : i + 2], 16) / 255 for i in (0, 2, 4)]
        rgb += scaled[..., np.newaxis] * np.array(weights)
    image = (np.clip(rgb, 0, 1) * 255).astype(np.uint8)
    return bytes(imagecodecs.png_encode(image))


def copy_verified(bag: Path, dest: Path, only: str = "data/") -> dict[str, str]:
    """Copy the bag's payload (the part under ``only``) to ``dest``, checking every file.

    Each copied file's sha256 must match the archive's manifest, or nothing is handed out.
    """
    manifest = payload_entries(bag)
    out = {}
    for rel, expected in sorted(manifest.items()):
        if not rel.startswith(only):
            continue
        target = dest / rel.removeprefix("data/")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(bag / rel, target)
        got = file_digest(target)
        if got != expected:
            raise TargetError(
                f"{rel} does not match the archive's manifest after the copy",
                where=bag,
                hint=f"run `fairway verify {bag.name}` and `fairway repair {bag.name}`",
            )
        out[rel.removeprefix("data/")] = got
    return out


def _provenance(crate: Any, events: list[dict[str, Any]], tools: dict[str, str]) -> None:
    crate.add_jsonld(
        {
            "@id": "#software-environment",
            "@type": "SoftwareApplication",
            "name": "fairway and the libraries it ran with",
            "url": FAIRWAY_URL,
            "version": tools.get("fairway", "unknown"),
            "softwareRequirements": [f"{k}=={v}" for k, v in sorted(tools.items())],
        }
    )
    agents: set[str] = set()
    for n, e in enumerate(events):
        # a curator has one entity however many changes (events) and versions they made
        agent = f"#agent-{quote(str(e['actor']), safe='')}"
        crate.add_jsonld(
            {
                "@id": f"#step-{n}",
                "@type": "CreateAction" if e["step"] != "curate" else "UpdateAction",
                "name": f"{e['step']}: {e['action']}",
                "endTime": e["at"],
                "agent": {"@id": agent} if e["step"] == "curate" else None,
                "instrument": {"@id": "#software-environment"},
            }
        )
        crate.root_dataset.append_to("mentions", {"@id": f"#step-{n}"})
        if e["step"] == "curate" and agent not in agents:
            agents.add(agent)
            crate.add_jsonld({"@id": agent, "@type": "Person", "name": e["actor"]})


def _cell(value: Any) -> str:
    return html.escape(str(value)) if value is not None else ""


def _landing_page(
    dataset: str, record: MetadataRecord, report: ValidationReport, png: bytes, image: str
) -> str:
    """The bundle's index.html; ``image`` is what a reader opens, relative to the bundle."""
    v = record.value

    def joined(prefix: str, suffix: str) -> str:
        return ", ".join(
            str(x.value)
            for k, x in sorted(record.fields.items())
            if k.startswith(prefix) and k.endswith(suffix)
        )

    method = " ".join(
        str(x)
        for x in (
            v("acquisition.imaging_method[0].label"),
            v("acquisition.imaging_method[0].term_id"),
        )
        if x
    )
    maker = (v("instrument.microscope.manufacturer"), v("instrument.microscope.model"))
    sizes = [f"{a.upper()} {v(f'pixels.size_{a}')}" for a in "xyzct" if v(f"pixels.size_{a}")]
    pixel = [
        f"{v(f'pixels.physical_size_{a}')} {v(f'pixels.physical_size_{a}_unit') or 'µm'}"
        for a in "xyz"
        if v(f"pixels.physical_size_{a}")
    ]
    rows = [
        ("Title", v("study.title")),
        ("Description", v("study.description")),
        ("Licence", v("study.license")),
        ("Authors", joined("study.authors", ".name")),
        ("Organism", v("biosample.organism[0].scientific_name")),
        ("Imaging method", method),
        ("Instrument", " ".join(str(x) for x in maker if x)),
        ("Acquired", v("image.acquisition_date")),
        ("Released", v("study.release_date")),
        ("Dimensions", ", ".join(sizes)),
        ("Pixel size", " x ".join(pixel)),
        ("Channels", joined("channels[", "].name")),
    ]
    table = "\n".join(
        f"<tr><th>{html.escape(k)}</th><td>{_cell(val)}</td></tr>" for k, val in rows if val
    )
    counts = {
        s: sum(1 for f in report.findings if f.severity.value == s)
        for s in ("error", "warning", "info")
    }
    zarr_name = f"{dataset}.ome.zarr"
    thumb = base64.b64encode(png).decode()
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>{_cell(v("study.title") or dataset)}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}}
th{{text-align:left;padding-right:1rem;vertical-align:top}}
img{{max-width:256px;border:1px solid #ccc}}
code{{background:#f4f4f4;padding:.1rem .3rem}}</style></head>
<body>
<h1>{_cell(v("study.title") or dataset)}</h1>
<p>Dataset <code>{_cell(dataset)}</code> · FAIR level <strong>{_cell(report.fair_level)}</strong>
(of {" &lt; ".join(FAIR_LEVELS)}) · {counts["error"]} errors, {counts["warning"]} warnings,
{counts["info"]} notes in the <a href="gap-report.md">gap report</a></p>
<img alt="thumbnail of the lowest resolution" src="data:image/png;base64,{thumb}">
<table>
{table}
</table>
<h2>Open it</h2>
<p>In napari (with the napari-ome-zarr plugin), in this folder:</p>
<pre><code class="language-shell">pip install "napari[all]" napari-ome-zarr
napari {_cell(image)}</code></pre>
<p>In Python, with ome-zarr-py or zarr, in this folder:</p>
<pre><code class="language-python">from ome_zarr.io import parse_url
from ome_zarr.reader import Reader

nodes = list(Reader(parse_url("{_cell(image)}"))())
pixels = nodes[0].data[0]  # full resolution, a dask array (t, c, z, y, x)

import zarr

level0 = zarr.open_group("{_cell(image)}", mode="r")["0"]  # the same, as a zarr array</code></pre>
<p>The full OME-XML is in <code>{_cell(zarr_name)}/OME/METADATA.ome.xml</code>; the metadata record
and its provenance are in <code>ro-crate-metadata.json</code>; every file's sha256 is in
<code>checksums-sha256.txt</code>.</p>
</body></html>
"""


def _write_crate(
    work: Path,
    dataset: str,
    zarr_name: str,
    record: MetadataRecord,
    report: ValidationReport,
    events: list[dict[str, Any]],
) -> None:
    tools = _versions()
    present = sorted(p.relative_to(work).as_posix() for p in work.rglob("*") if p.is_file())
    sizes = {rel: (work / rel).stat().st_size for rel in present}
    # checksums-sha256.txt is written after the crate and lists every file but itself, the
    # crate included: "<64 hex digits>  <path>\n" per file, so its size is known now
    sizes[CHECKSUMS_FILE] = sum(
        64 + 2 + len(rel.encode("utf-8")) + 1 for rel in {*present, "ro-crate-metadata.json"}
    )
    crate = build_crate(
        dataset,
        zarr_name,
        record,
        report,
        [RECORD_FILE, REPORT_FILE],
        tools.get("fairway", "?"),
        sizes,
    )
    for rel, fmt, name, description in (
        ("gap-report.md", "text/markdown", "gap report", "Metadata gaps still open, by module"),
        ("index.html", "text/html", "landing page", "What the dataset is and how to open it"),
        ("thumbnail.png", "image/png", "thumbnail", "The image's lowest resolution as a PNG"),
        (CHECKSUMS_FILE, "text/plain", "sha256 of every file", "Checksums of every file"),
    ):
        props = {"encodingFormat": fmt, "name": name, "description": description}
        crate.add_file(
            source=None, dest_path=rel, properties=props | {"contentSize": str(sizes[rel])}
        )
    _provenance(crate, events, tools)
    write_crate(crate, work)


def make_bundle(
    bag: Path,
    dest: Path,
    events: list[dict[str, Any]],
    *,
    today: date | None = None,
) -> Path:
    """Write the FAIR bundle of the archived bag ``bag`` into ``dest/<dataset>``.

    Raises
    ------
    NotFetchableError
        Embargoed, or below its profile's level.
    TargetError
        The archive's bytes do not match its manifest, or the bundle exists already.
    """
    dataset = bag.name
    data = bag / "data"
    record = MetadataRecord.model_validate_json((data / RECORD_FILE).read_text(encoding="utf-8"))
    report = ValidationReport.model_validate_json((data / REPORT_FILE).read_text(encoding="utf-8"))
    check_fetchable(record, report, today or datetime.now(UTC).date())
    final = dest / dataset
    with building_folder(final) as work:
        copy_verified(bag, work)
        zarr_name = f"{dataset}.ome.zarr"
        (work / "gap-report.md").write_text(report_markdown(report), encoding="utf-8")
        png = thumbnail_png(work / zarr_name)
        (work / "thumbnail.png").write_bytes(png)
        inner = first_image_path(work / zarr_name)
        image = f"{zarr_name}/{inner}" if inner else zarr_name
        page = _landing_page(dataset, record, report, png, image)
        (work / "index.html").write_text(page, encoding="utf-8")
        _write_crate(work, dataset, zarr_name, record, report, events)
        digests = {
            p.relative_to(work).as_posix(): file_digest(p)
            for p in sorted(work.rglob("*"))
            if p.is_file()
        }
        (work / CHECKSUMS_FILE).write_text(
            "".join(f"{d}  {rel}\n" for rel, d in digests.items()), encoding="utf-8"
        )
    return final


def bundle_summary(bundle: Path) -> dict[str, Any]:
    """What ``fairway get --json`` prints about a written bundle."""
    lines = (bundle / "checksums-sha256.txt").read_text(encoding="utf-8").splitlines()
    crate = json.loads((bundle / "ro-crate-metadata.json").read_text(encoding="utf-8"))
    return {
        "dataset": bundle.name,
        "path": str(bundle),
        "files": len(lines),
        "bytes": sum(p.stat().st_size for p in bundle.rglob("*") if p.is_file()),
        "index_html": str(bundle / "index.html"),
        "image": open_path(bundle / f"{bundle.name}.ome.zarr"),
        "crate_entities": len(crate["@graph"]),
    }
