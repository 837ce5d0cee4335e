"""High-content screening: OME plates become the NGFF plate/well/field layout.

For an OME document with one plate whose wells reference the images, image ``i`` is written
at ``<row>/<column>/<field>`` (e.g. ``A/1/0``) instead of ``i``; the root carries the
``plate`` metadata and every well group its ``well`` metadata. ``OME/`` lists the image paths
in image order, so image ``i`` of the OME-XML is still ``series[i]``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ome_types import OME

__all__ = ["PlateLayout", "plate_layout"]


@dataclass
class PlateLayout:
    """Where each image goes and the metadata of the plate and its wells."""

    image_paths: dict[int, str]
    plate: dict[str, Any]
    wells: dict[str, dict[str, Any]] = field(default_factory=dict)


def _name(index: int, convention: Any) -> str:
    value = str(getattr(convention, "value", convention) or "")
    if value.lower() == "letter":
        name, n = "", index
        while True:
            name = chr(ord("A") + n % 26) + name
            n = n // 26 - 1
            if n < 0:
                return name
    return str(index + 1)


def plate_layout(ome: OME) -> PlateLayout | None:
    """The plate layout of ``ome``, or ``None`` when it has no single usable plate."""
    if len(ome.plates) != 1:
        return None
    plate = ome.plates[0]
    image_index = {image.id: i for i, image in enumerate(ome.images)}
    paths: dict[int, str] = {}
    wells: dict[str, dict[str, Any]] = {}
    rows: set[int] = set()
    cols: set[int] = set()
    for well in plate.wells:
        row = _name(well.row, plate.row_naming_convention)
        col = _name(well.column, plate.column_naming_convention)
        images = []
        for f, sample in enumerate(
            sorted(well.well_samples, key=lambda s: s.index if s.index is not None else 0)
        ):
            ref = sample.image_ref.id if sample.image_ref else None
            if ref not in image_index:
                continue
            paths[image_index[ref]] = f"{row}/{col}/{f}"
            images.append({"path": str(f)})
        if images:
            wells[f"{row}/{col}"] = {"images": images}
            rows.add(well.row)
            cols.add(well.column)
    if not wells or len(paths) != len(ome.images):
        return None  # images outside any well: keep the plain series layout
    n_rows = max(plate.rows or 0, max(rows) + 1)
    n_cols = max(plate.columns or 0, max(cols) + 1)
    row_names = [_name(r, plate.row_naming_convention) for r in range(n_rows)]
    col_names = [_name(c, plate.column_naming_convention) for c in range(n_cols)]
    meta: dict[str, Any] = {
        "rows": [{"name": r} for r in row_names],
        "columns": [{"name": c} for c in col_names],
        "wells": [
            {
                "path": path,
                "rowIndex": row_names.index(path.split("/")[0]),
                "columnIndex": col_names.index(path.split("/")[1]),
            }
            for path in sorted(wells)
        ],
        "field_count": max(len(w["images"]) for w in wells.values()),
    }
    if plate.name:
        meta["name"] = plate.name
    return PlateLayout(image_paths=paths, plate=meta, wells=wells)
