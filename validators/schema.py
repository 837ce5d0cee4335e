"""Validate a metadata record against a fairway JSON Schema, as findings.

Every property of a fairway schema carries an ``x-fairway`` annotation (level, module, fix).
A missing object is expanded into one finding per missing leaf, so a curator sees every field
to supply, not just "study is required".
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from core.fieldpaths import expand, parse_path
from core.records import Finding, MetadataRecord, Severity
from schemas import DEFAULT_SCHEMA, load

__all__ = [
    "SEVERITY_BY_LEVEL",
    "check_record",
    "record_document",
    "schema_modules",
    "unknown_fields",
]

SEVERITY_BY_LEVEL = {
    "required": Severity.ERROR,
    "conditional": Severity.ERROR,
    "tier1": Severity.WARNING,
    "tier2": Severity.INFO,
    "tier3": Severity.INFO,
    "recommended": Severity.INFO,
}


def record_document(record: MetadataRecord) -> dict[str, Any]:
    """The nested JSON document a schema validates (values only, sources dropped)."""
    return expand({k: v.value for k, v in record.fields.items()})


def _join(parts: list[Any]) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def _annotation(schema: dict[str, Any]) -> dict[str, str]:
    ann = schema.get("x-fairway", {})
    return ann if isinstance(ann, dict) else {}


class _Walker:
    def __init__(self, schema: dict[str, Any]) -> None:
        self.schema = schema
        self.validator = Draft202012Validator(schema)

    def module_of(self, path: list[Any]) -> str:
        if path and isinstance(path[0], str):
            top = self.schema.get("properties", {}).get(path[0], {})
            return _annotation(top).get("module", str(path[0]))
        return "record"

    def findings(
        self, instance: Any, schema: dict[str, Any], prefix: list[Any], inherited: dict[str, str]
    ) -> Iterator[Finding]:
        validator = self.validator.evolve(schema=schema)
        for err in validator.iter_errors(instance):
            yield from self._from_error(err, prefix, inherited)

    def _from_error(
        self, err: ValidationError, prefix: list[Any], inherited: dict[str, str]
    ) -> Iterator[Finding]:
        path = [*prefix, *err.absolute_path]
        sub = err.schema if isinstance(err.schema, dict) else {}
        if err.validator == "required":
            missing = err.message.split("'")[1] if "'" in err.message else str(err.message)
            prop = sub.get("properties", {}).get(missing, {})
            if not prop:  # required by an if/then: find the property in the enclosing schema
                prop = self._lookup([*path, missing])
            ann = {**inherited, **_annotation(sub), **_annotation(prop)}
            if prop.get("type") == "object" and prop.get("required"):
                yield from self.findings({}, prop, [*path, missing], ann)
                return
            if (
                prop.get("type") == "array"
                and isinstance(prop.get("items"), dict)
                and prop["items"].get("required")
            ):
                yield from self.findings({}, prop["items"], [*path, missing, 0], ann)
                return
            yield self._finding([*path, missing], ann, f"missing: {_join([*path, missing])}")
            return
        ann = {**inherited, **_annotation(self._lookup(path)), **_annotation(sub)}
        yield self._finding(path, ann, f"{_join(path) or 'record'}: {err.message}")

    def _lookup(self, path: list[Any]) -> dict[str, Any]:
        node: dict[str, Any] = self.schema
        for part in path:
            if isinstance(part, int):
                node = node.get("items", {}) if isinstance(node.get("items"), dict) else {}
            else:
                node = node.get("properties", {}).get(part, {})
            if not node:
                return {}
        return node

    def _finding(self, path: list[Any], ann: dict[str, str], message: str) -> Finding:
        level = ann.get("level", "required")
        return Finding(
            path=_join(path),
            module=ann.get("module") or self.module_of(path),
            level=level,
            severity=SEVERITY_BY_LEVEL.get(level, Severity.WARNING),
            message=message,
            fix_hint=ann.get("fix", ""),
            check=f"schema:{self.schema.get('$id', '?')}",
        )


def check_record(record: MetadataRecord, schema_name: str = DEFAULT_SCHEMA) -> list[Finding]:
    """Findings of ``record`` against the named schema; never raises on findings."""
    schema = load(schema_name)
    walker = _Walker(schema)
    doc = record_document(record)
    seen: set[tuple[str, str]] = set()
    out: list[Finding] = []
    for finding in walker.findings(doc, schema, [], {}):
        key = (finding.path, finding.message)
        if key not in seen:
            seen.add(key)
            out.append(finding)
    return sorted(out, key=lambda f: (f.severity != Severity.ERROR, f.module, f.path))


def schema_modules(schema_name: str = DEFAULT_SCHEMA) -> list[str]:
    """The top-level modules of a schema (``study``, ``pixels``...), sorted."""
    return sorted(load(schema_name).get("properties", {}))


def unknown_fields(paths: Iterable[str], schema_name: str = DEFAULT_SCHEMA) -> list[str]:
    """The field paths that fall outside every module of the schema (typos, other records)."""
    modules = set(schema_modules(schema_name))
    return [p for p in paths if parse_path(p)[0] not in modules]
