"""Sidecar files written by people next to the data (``fairway.yaml`` / ``.json`` / ``.csv``).

They carry what no instrument knows: study, biosample, specimen, licence. Parsing is bounded
(size cap; YAML, JSON and CSV through the bounded readers of ``core``: no anchors, at most 64
levels while parsing and 16 in the result) and keys are field paths.
A CSV sidecar has two columns, ``field`` and ``value``, one field path per row (a
spreadsheet export); numbers and true/false become numbers and booleans.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from core.csvsafe import read_csv
from core.errors import (
    CorruptInputError,
    EmptyInputError,
    FairwayError,
    InputTooLargeError,
    UnsafeInputError,
)
from core.fieldpaths import flatten
from core.jsonsafe import load_json
from core.records import Sourced
from core.yamlsafe import load_yaml
from metadata.fixes import parse_assignment

__all__ = ["read_sidecar"]

_MAX_DEPTH = 16


def _depth(doc: Any, level: int = 0) -> int:
    if level > _MAX_DEPTH:
        return level
    if isinstance(doc, dict):
        return max((_depth(v, level + 1) for v in doc.values()), default=level)
    if isinstance(doc, list):
        return max((_depth(v, level + 1) for v in doc), default=level)
    return level


def _check_keys(doc: Any, path: Path) -> None:
    if isinstance(doc, dict):
        for k, v in doc.items():
            key = str(k)
            if not key or any(ch in key for ch in "/\\\x00") or key in {".", ".."}:
                raise UnsafeInputError(f"sidecar key {key!r} is not a field name", where=path)
            _check_keys(v, path)
    elif isinstance(doc, list):
        for v in doc:
            _check_keys(v, path)


def read_sidecar(path: Path, *, max_bytes: int) -> dict[str, Sourced]:
    """Read a sidecar into sourced fields (``study.title`` etc.)."""
    size = path.stat().st_size
    if size > max_bytes:
        raise InputTooLargeError(
            f"sidecar is {size} bytes, above the cap of {max_bytes}", where=path
        )
    if size == 0:
        raise EmptyInputError(
            "empty file (0 bytes): a sidecar was delivered without its fields",
            where=path,
            hint="deliver it again with its fields (or remove it), then `fairway retry` the "
            "dataset",
        )
    text = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix.lower() == ".csv":
        return _from_csv(text, path)
    try:
        doc = (
            load_json(text, where=path)
            if path.suffix.lower() == ".json"
            else load_yaml(text, where=path)
        )
    except yaml.YAMLError as exc:
        raise CorruptInputError(
            f"sidecar cannot be parsed: {exc}", where=path, hint="fix its syntax"
        ) from exc
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise CorruptInputError("sidecar must be a mapping of field paths", where=path)
    if _depth(doc) > _MAX_DEPTH:
        raise UnsafeInputError(f"sidecar nests deeper than {_MAX_DEPTH} levels", where=path)
    _check_keys(doc, path)
    return {
        key: Sourced(value=value, source=f"sidecar:{path.name}")
        for key, value in flatten(doc).items()
        if value is not None
    }


def _from_csv(text: str, path: Path) -> dict[str, Sourced]:
    header, rows = read_csv(text, where=path)
    if not {"field", "value"} <= set(header):
        raise CorruptInputError(
            "a CSV sidecar needs the columns 'field' and 'value'",
            where=path,
            hint="one row per field path",
        )
    out: dict[str, Sourced] = {}
    for n, row in enumerate(rows, start=2):
        key = (row.get("field") or "").strip()
        value = (row.get("value") or "").strip()
        if not key or not value:
            continue
        _check_keys({k: None for k in key.replace("[", ".").replace("]", "").split(".")}, path)
        try:
            field, typed = parse_assignment(f"{key}={value}")
        except FairwayError as exc:
            raise CorruptInputError(f"row {n}: {exc.problem}", where=path) from None
        out[field] = Sourced(value=typed, source=f"sidecar:{path.name}")
    return out
