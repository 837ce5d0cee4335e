"""Share of each corpus file's metadata that fairway extracts into record fields.

For every readable file of the corpus, the metadata the file holds is counted by the
libraries on their own, not by fairway:

* **OME** (``ome-types``): the leaf values (attributes and text) of the first image, its
  pixels, channels and first plane, the instrument it uses, the experimenters and the
  creator. IDs, references and TIFF plane bookkeeping are not counted. For OME-TIFF the
  OME-XML comes from tifffile; for OME-XML files from the file itself; for CZI / ND2 / LIF
  from the OME that bioio's plugin (or fairway's CZI/LIF mapping, noted) produces.
* **bioio** ``standard_metadata``: the fields the plugin fills (vendor files).

A leaf counts as extracted when the record holds the same value under a field whose
source names the same attribute. Everything else still travels with the image in
``OME/METADATA.ome.xml`` or under ``unmapped``: this measures what becomes searchable,
validated fields.

    python benchmarks/extraction_share.py [--corpus ../shared/corpus]
"""

from __future__ import annotations

import argparse
import enum
import math
import sys
import tempfile
import warnings
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pydantic import BaseModel

from core.omeutil import parse_ome
from core.records import MetadataRecord
from core.settings import load_settings
from metadata import extract
from metadata.ome_map import ome_fields
from tests.factories import acquisition_of

SKIP = {
    "id",
    "annotation_refs",
    "tiff_data_blocks",
    "bin_data_blocks",
    "metadata_only",
    "planes",
    "ms",
    "kind",
    "big_endian",
    "interleaved",
    "light_path",
    "the_c",
    "the_t",
    "the_z",
}


def _plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "as_rgb_tuple"):
        return "".join(f"{c:02X}" for c in value.as_rgb_tuple(alpha=False)[:3])
    return value


def _leaves(obj: Any, prefix: str) -> Iterator[tuple[str, str, Any]]:
    """(path, attribute name, value) of every set scalar below ``obj``."""
    if isinstance(obj, BaseModel):
        for name in type(obj).model_fields:
            if name in SKIP or name.endswith("_ref") or name.endswith("_unit"):
                continue
            yield from _leaves(getattr(obj, name), f"{prefix}.{name}")
    elif isinstance(obj, list):
        for i, item in enumerate(obj):
            yield from _leaves(item, f"{prefix}[{i}]")
    elif obj is not None and obj != "" and not callable(obj):
        yield prefix, prefix.rsplit(".", 1)[-1].split("[")[0], _plain(obj)


def ome_leaves(ome: Any) -> list[tuple[str, str, Any]]:
    """What the OME holds for the first image, counted by walking the ome-types model."""
    out: list[tuple[str, str, Any]] = []
    if ome.creator:
        out.append(("creator", "creator", ome.creator))
    for i, e in enumerate(ome.experimenters):
        out += _leaves(e, f"experimenters[{i}]")
    if not ome.images:
        return out
    image = ome.images[0]
    out += [
        leaf
        for leaf in _leaves(image, "image")
        if not leaf[0].startswith("image.pixels.channels") or "[" in leaf[0]
    ]
    if image.pixels.planes:
        out += _leaves(image.pixels.planes[0], "image.pixels.planes[0]")
    ref = image.instrument_ref.id if image.instrument_ref else None
    instrument = next((i for i in ome.instruments if i.id == ref), None) or (
        ome.instruments[0] if len(ome.instruments) == 1 else None
    )
    if instrument is not None:
        out += _leaves(instrument, "instrument")
    return out


def _norm(text: str) -> str:
    return text.replace("_", "").lower()


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, int | float) and isinstance(b, int | float) and not isinstance(a, bool):
        return math.isclose(float(a), float(b), rel_tol=1e-9)
    return str(a) == str(b)


def extracted(record: MetadataRecord, attr: str, value: Any) -> bool:
    """Whether the record holds ``value`` under a field whose source names ``attr``."""
    key = _norm(attr)
    for item in record.fields.values():
        tail = item.source.rsplit("@", 1)[-1].rsplit("/", 1)[-1]
        if _norm(tail) == key and _same(item.value, value):
            return True
    return False


STANDARD = {
    "binning": "detector_settings.binning",
    "image_size_c": "pixels.size_c",
    "image_size_t": "pixels.size_t",
    "image_size_x": "pixels.size_x",
    "image_size_y": "pixels.size_y",
    "image_size_z": "pixels.size_z",
    "imaging_datetime": "image.acquisition_date",
    "objective": "objective.",
    "pixel_size_x": "pixels.physical_size_x",
    "pixel_size_y": "pixels.physical_size_y",
    "pixel_size_z": "pixels.physical_size_z",
    "timelapse_interval": "pixels.time_increment",
    "dimensions_present": "pixels.dimension_order",
    "stage_position_x": "planes[0].position_x",
    "stage_position_y": "planes[0].position_y",
    "timelapse": "pixels.size_t",
    "imaged_by": "experimenters[0].",
}


def standard_share(path: Path, record: MetadataRecord) -> tuple[int, int, list[str]]:
    """bioio ``standard_metadata`` fields filled, and how many the record holds."""
    from core.bioio_open import open_bioio

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        image = open_bioio(path, max_input_bytes=1 << 40)
        try:
            sm = image.standard_metadata
        finally:
            del image
    held = {
        k: v
        for k, v in vars(sm).items()
        if v is not None
        and not (isinstance(v, str | list | tuple) and len(v) == 0)
        and not (hasattr(v, "size") and getattr(v, "size", 1) == 0)
    }
    hits, missed = 0, []
    for name, value in held.items():
        target = STANDARD.get(name)
        ok = False
        if name == "dimensions_present":  # the axes present: letters, not an order
            order = record.value("pixels.dimension_order")
            ok = order is not None and set(str(value).replace("S", "")) <= set(str(order))
        elif name == "timelapse":
            ok = record.value("pixels.size_t") is not None and (
                record.value("pixels.size_t") > 1
            ) == bool(value)
        elif target is not None:
            for key, item in record.fields.items():
                if target.endswith(".") and key.startswith(target.rstrip(".")):
                    ok = ok or str(item.value) in str(value) or str(value) in str(item.value)
                elif key.endswith(target):
                    v = value.total_seconds() if hasattr(value, "total_seconds") else value
                    v = v.isoformat() if isinstance(v, datetime) else v
                    ok = ok or _same(item.value, v) or str(v).startswith(str(item.value)[:19])
        if ok:
            hits += 1
        else:
            missed.append(name)
    return len(held), hits, missed


def main() -> int:
    """Print the share per file and per source."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--corpus", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "corpus"
    )
    args = parser.parse_args()
    corpus: Path = args.corpus
    settings = load_settings(Path(tempfile.mkdtemp(prefix="fairway-share-")))
    rows: list[tuple[str, str, int, int, str]] = []
    for xml_path in sorted((corpus / "ome-xml").rglob("*.ome.xml")):
        ome, _ = parse_ome(xml_path.read_text(encoding="utf-8"))
        record = MetadataRecord(fields=ome_fields(ome), ome_xml="", ome_xml_origin="source")
        leaves = ome_leaves(ome)
        hits = [leaf for leaf in leaves if extracted(record, leaf[1], leaf[2])]
        missed = sorted({leaf[1] for leaf in leaves} - {leaf[1] for leaf in hits})
        rows.append(
            (
                str(xml_path.relative_to(corpus)),
                "OME (ome-types)",
                len(leaves),
                len(hits),
                ", ".join(missed),
            )
        )
    files = [
        *[(p, "tiff") for p in sorted((corpus / "ome-tiff").glob("*.ome.tif"))],
        *[(p, "czi") for p in sorted((corpus / "czi").glob("*.czi"))],
        *[(p, "bioio") for p in sorted((corpus / "nd2").glob("*.nd2"))],
        *[(p, "bioio") for p in sorted((corpus / "lif").glob("*.lif"))],
    ]
    for path, kind in files:
        rel = str(path.relative_to(corpus))
        try:
            record = extract(acquisition_of(path, kind=kind), settings)
        except Exception as exc:  # noqa: BLE001 - a figure, not a pipeline: report and go on
            rows.append((rel, "error", 0, 0, str(exc)[:80]))
            continue
        ome, _ = parse_ome(record.ome_xml)
        leaves = ome_leaves(ome)
        hits = [leaf for leaf in leaves if extracted(record, leaf[1], leaf[2])]
        missed = sorted({leaf[1] for leaf in leaves} - {leaf[1] for leaf in hits})
        origin = {"source": "OME in the file", "converted": "OME from the bioio plugin",
                  "generated": "OME made by fairway's reader"}[record.ome_xml_origin]  # fmt: skip
        rows.append((rel, f"OME (ome-types; {origin})", len(leaves), len(hits), ", ".join(missed)))
        if kind == "bioio":
            held, hit, miss = standard_share(path, record)
            rows.append((rel, "bioio standard_metadata", held, hit, ", ".join(miss)))
    total: dict[str, list[int]] = {}
    print(f"{'file':58} {'source':44} {'held':>5} {'extracted':>9} {'share':>6}  not extracted")
    for rel, source, held, hit, not_taken in rows:
        share = f"{100 * hit / held:5.1f}%" if held else "   -  "
        print(f"{rel:58} {source[:44]:44} {held:5d} {hit:9d} {share}  {not_taken[:90]}")
        kind = source.split(" (")[0]
        total.setdefault(kind, [0, 0])
        total[kind][0] += held
        total[kind][1] += hit
    for kind, (held, hit) in total.items():
        if held:
            print(f"overall {kind}: {hit}/{held} = {100 * hit / held:.1f}%")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
