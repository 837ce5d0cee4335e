"""Curators' fixes to a metadata record: parse, apply, and check values before anything sticks.

A fix sets a field path (``study.license``, ``study.keywords[0]``) to a value. A value that
is exactly a number (``12.5``) or a boolean (``true``) is one; anything else is text, kept as
written. The new value is recorded with its source ``curator:<who>``; the value it replaced
is kept in the change, so the audit trail can say who changed what, from what, to what, why.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, JsonValue

from core.csvsafe import read_csv
from core.errors import CorruptInputError, FairwayError
from core.fieldpaths import parse_path
from core.records import MetadataRecord, Sourced
from core.yamlsafe import load_yaml

__all__ = ["FieldChange", "InvalidFixError", "apply_fixes", "parse_assignment", "read_fix_file"]

#: how large a bulk fix file may be
MAX_FIX_FILE_BYTES = 8 * 1024**2


class InvalidFixError(FairwayError):
    """A fix names an unknown field path or a value the schema refuses; nothing was applied."""


class FieldChange(BaseModel):
    """One field changed by a curator (an audit event)."""

    model_config = ConfigDict(frozen=True)

    path: str
    old: JsonValue
    new: JsonValue
    old_source: str | None


_INT = re.compile(r"[-+]?\d+")
_FLOAT = re.compile(r"[-+]?(\d+\.\d*|\.\d+|\d+)([eE][-+]?\d+)?")


def _scalar(text: str) -> JsonValue:
    """A number or boolean where the text is exactly one, else the text as written."""
    if _INT.fullmatch(text):
        return int(text)
    if _FLOAT.fullmatch(text):
        return float(text)
    if text.lower() in {"true", "false"}:
        return text.lower() == "true"
    return text


def parse_assignment(text: str) -> tuple[str, JsonValue]:
    """``PATH=VALUE`` -> (path, typed value).

    Raises
    ------
    InvalidFixError
        No ``=``, or a path that is not a field path.
    """
    path, sep, value = text.partition("=")
    path = path.strip()
    if not sep or not path:
        raise InvalidFixError(
            f"'{text}' is not PATH=VALUE", hint="for example --set study.license=CC-BY-4.0"
        )
    try:
        parse_path(path)
    except ValueError as exc:
        raise InvalidFixError(str(exc), where=path) from None
    return path, _scalar(value.strip())


def apply_fixes(
    record: MetadataRecord, changes: Mapping[str, JsonValue], actor: str
) -> tuple[MetadataRecord, list[FieldChange]]:
    """The record with ``changes`` applied (source ``curator:<actor>``) and what changed.

    Fields whose value is already the one asked for are not changes.
    """
    fields = dict(record.fields)
    done: list[FieldChange] = []
    for path, value in changes.items():
        old = fields.get(path)
        if old is not None and old.value == value:
            continue
        fields[path] = Sourced(value=value, source=f"curator:{actor}")
        done.append(
            FieldChange(
                path=path,
                old=old.value if old else None,
                new=value,
                old_source=old.source if old else None,
            )
        )
    return record.model_copy(update={"fields": fields}), done


def read_fix_file(path: Path) -> dict[str, dict[str, JsonValue]]:
    """Bulk fixes: dataset -> {field path: value}, from CSV or YAML.

    CSV: a ``dataset`` column, every other column a field path, one row per dataset (empty
    cells are left alone). YAML: a mapping of dataset to a mapping of field path to value.

    Raises
    ------
    InvalidFixError
        The file cannot be read or has the wrong shape; the message says where.
    """
    size = path.stat().st_size
    if size > MAX_FIX_FILE_BYTES:
        raise CorruptInputError(f"fix file is {size} bytes, above {MAX_FIX_FILE_BYTES}", where=path)
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".csv":
        return _from_csv(text, path)
    if path.suffix.lower() in {".yaml", ".yml"}:
        return _from_yaml(text, path)
    raise InvalidFixError("a fix file is .csv, .yaml or .yml", where=path)


def _from_csv(text: str, path: Path) -> dict[str, dict[str, JsonValue]]:
    header, rows = read_csv(text, where=path)
    if not rows or "dataset" not in header:
        raise InvalidFixError(
            "the CSV needs a 'dataset' column and one row per dataset", where=path
        )
    out: dict[str, dict[str, JsonValue]] = {}
    for n, row in enumerate(rows, start=2):
        dataset = (row.pop("dataset") or "").strip()
        if not dataset:
            raise InvalidFixError(f"row {n} has no dataset", where=path)
        out.setdefault(dataset, {}).update(
            {_field(k, path): _scalar(v.strip()) for k, v in row.items() if k and v and v.strip()}
        )
    return out


def _field(key: str, where: Path) -> str:
    """``key`` as a field path, or the refusal naming it."""
    key = str(key).strip()
    try:
        parse_path(key)
    except ValueError as exc:
        raise InvalidFixError(str(exc), where=where) from None
    return key


def _from_yaml(text: str, path: Path) -> dict[str, dict[str, JsonValue]]:
    try:
        doc: Any = load_yaml(text, where=path)
    except yaml.YAMLError as exc:
        raise InvalidFixError(f"not valid YAML ({exc})", where=path) from None
    if not isinstance(doc, dict) or not all(isinstance(v, dict) for v in doc.values()):
        raise InvalidFixError(
            "the YAML must map each dataset to a mapping of field path to value", where=path
        )
    return {
        str(d): {_field(k, path): _plain(v) for k, v in fields.items()} for d, fields in doc.items()
    }


def _plain(value: Any) -> JsonValue:
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)
