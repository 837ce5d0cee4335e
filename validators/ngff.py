"""Structural checks of an OME-Zarr with ome-zarr-models, returned as findings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import zarr
from ome_zarr_models import v04, v05
from pydantic import ValidationError

from core.records import Finding, Severity

__all__ = ["check_ngff", "image_group", "image_paths", "ngff_attrs"]


def _finding(path: str, message: str, hint: str = "") -> Finding:
    return Finding(
        path=path,
        module="ngff",
        level="required",
        severity=Severity.ERROR,
        message=message,
        fix_hint=hint or "re-convert the dataset; the writer produced invalid NGFF",
        check="ngff",
    )


def _under(image: str, rest: str) -> str:
    """A finding's path inside an image (``""``: the store is the image)."""
    return f"{image}/{rest}" if image else rest


def _pydantic_findings(prefix: str, exc: ValidationError) -> list[Finding]:
    return [
        _finding(
            _under(prefix, ".".join(str(p) for p in err["loc"])).rstrip("/."),
            f"{err['msg']}",
        )
        for err in exc.errors()
    ]


def ngff_attrs(group: Any) -> dict[str, Any]:
    """The OME-NGFF attributes of a group: under ``ome`` in 0.5, at the top level in 0.4."""
    attrs = dict(group.attrs)
    ome = attrs.get("ome")
    return dict(ome) if isinstance(ome, dict) else attrs


def image_paths(root: Any) -> list[str]:
    """The image groups of an OME-Zarr in the order of its OME-XML images.

    ``[""]`` when the store is itself an image (fairway's one-image layout, or any plain NGFF
    image); the ``series`` the ``OME`` group lists in the bioformats2raw layout (``"0"``,
    ``"1"``, ... or a plate's ``"A/1/0"``, ...); else the groups ``0``, ``1``, ... present.
    """
    if "multiscales" in ngff_attrs(root):
        return [""]
    if "OME" in root:
        listed = ngff_attrs(root["OME"]).get("series")
        if isinstance(listed, list) and listed:
            return [str(k) for k in listed]
    paths: list[str] = []
    while str(len(paths)) in root:
        paths.append(str(len(paths)))
    return paths


def image_group(root: Any, path: str) -> Any:
    """The group of the image at ``path`` (``""``: the root itself)."""
    return root[path] if path else root


def _level_scales(group: Any, where: str, ms: Any) -> list[Finding]:
    """Every level's scale must span the same physical extent as level 0 (within a voxel)."""
    out: list[Finding] = []

    def scale_of(ds: Any) -> list[float]:
        for transform in ds.coordinateTransformations:
            if getattr(transform, "type", None) == "scale":
                return [float(v) for v in transform.scale]
        return []

    base = scale_of(ms.datasets[0])
    shape0 = getattr(group[ms.datasets[0].path], "shape", ())
    for ds in ms.datasets[1:]:
        scale, shape = scale_of(ds), getattr(group[ds.path], "shape", ())
        for i, axis in enumerate(ms.axes):
            if axis.type != "space" or i >= min(len(scale), len(base), len(shape), len(shape0)):
                continue
            extent0, extent = base[i] * shape0[i], scale[i] * shape[i]
            if abs(extent0 - extent) > scale[i] * (1 + 1e-6):
                out.append(
                    _finding(
                        _under(where, ds.path),
                        f"level '{ds.path}' scale {scale[i]} on axis '{axis.name}' spans "
                        f"{extent:g} for {shape[i]} pixels, level 0 spans {extent0:g}",
                    )
                )
    return out


def check_ngff(store: Path) -> list[Finding]:
    """Validate an OME-Zarr (0.5 or 0.4): one image, the bioformats2raw layout, or a plate.

    Never raises on findings.
    """
    findings: list[Finding] = []
    try:
        root = zarr.open_group(store=str(store), mode="r")
    except (FileNotFoundError, ValueError, zarr.errors.GroupNotFoundError) as exc:
        return [_finding(str(store), f"not a zarr group: {exc}")]
    version = "0.5" if isinstance(root.attrs.get("ome"), dict) else "0.4"
    models: Any = v05 if version == "0.5" else v04
    plate = ngff_attrs(root).get("plate")
    if "multiscales" in ngff_attrs(root):
        paths = [""]  # the store is one image
    else:
        try:
            b2r = models.BioFormats2Raw.from_zarr(root)
        except ValidationError as exc:
            return _pydantic_findings("", exc)
        except (KeyError, ValueError, FileNotFoundError) as exc:
            return [_finding("", f"bioformats2raw layout invalid: {exc}")]
        paths = b2r.image_paths
    if isinstance(plate, dict):
        # a plate: validate plate and wells, then every field image
        try:
            models.HCS.from_zarr(root)
        except ValidationError as exc:
            findings.extend(_pydantic_findings("plate", exc))
        except (KeyError, ValueError, FileNotFoundError) as exc:
            findings.append(_finding("plate", f"plate layout invalid: {exc}"))
        paths = []
        for well in plate.get("wells", []):
            group = root.get(well["path"]) if isinstance(well, dict) else None
            images = ngff_attrs(group).get("well", {}).get("images", []) if group else []
            paths += [f"{well['path']}/{image['path']}" for image in images]
    if not paths:
        findings.append(_finding("", "no image groups (0, 1, ... or plate fields) in the store"))
    for p in paths:
        group = image_group(root, p)
        try:
            img = models.Image.from_zarr(group)
        except ValidationError as exc:
            findings.extend(_pydantic_findings(p, exc))
            continue
        if "labels" in group:
            try:
                models.Labels.from_zarr(group["labels"])
            except ValidationError as exc:
                findings.extend(_pydantic_findings(_under(p, "labels"), exc))
            except (KeyError, ValueError, FileNotFoundError) as exc:
                findings.append(_finding(_under(p, "labels"), f"labels invalid: {exc}"))
        attrs = img.ome_attributes
        for ms in attrs.multiscales:
            findings.extend(_level_scales(group, p, ms))
            level0 = group[ms.datasets[0].path]
            shape = getattr(level0, "shape", ())
            for axis, size in zip(ms.axes, shape, strict=False):
                if axis.type == "space" and not axis.unit and size > 1:
                    findings.append(
                        Finding(
                            path=_under(p, f"multiscales/axes/{axis.name}"),
                            module="ngff",
                            level="recommended",
                            severity=Severity.WARNING,
                            message=f"spatial axis '{axis.name}' has no unit "
                            "(physical size unknown)",
                            fix_hint="supply pixels.physical_size_* "
                            "(sidecar or instrument software)",
                            check="ngff",
                        )
                    )
    ome_xml = store / "OME" / "METADATA.ome.xml"
    if not ome_xml.is_file():
        findings.append(_finding("OME/METADATA.ome.xml", "the OME-XML of the source is missing"))
    return findings
