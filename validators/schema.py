"""Validate a metadata record against fairway's JSON Schemas, as findings.

Every property of a fairway schema carries an ``x-fairway`` annotation (level, module, fix,
and for conditional rules the FAIR level it holds back and the condition). A missing object is
expanded into one finding per missing leaf, so a curator sees every field to supply, not just
"study is required". Severity depends on the facility profile's target: a gap beyond the
target is information; within it, a gap that holds back the REMBI set is an error and one that
holds back an NBO tier is a warning.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from core.fieldpaths import expand, parse_path
from core.records import FAIR_LEVELS, Finding, MetadataRecord, Severity
from schemas import DEFAULT_SCHEMA, bundled, load

__all__ = [
    "BLOCKS_BY_LEVEL",
    "blocked_level",
    "check_record",
    "record_document",
    "schema_modules",
    "unknown_fields",
]

#: the FAIR level a gap at each schema level holds back (conditional rules say their own)
BLOCKS_BY_LEVEL = {
    "required": "rembi",
    "conditional": "rembi",
    "tier1": "rembi+nbo-tier1",
    "tier2": "rembi+nbo-tier2",
    "tier3": "rembi+nbo-tier3",
}


def blocked_level(finding: Finding) -> str | None:
    """The lowest FAIR level ``finding`` holds back, also for reports stored before ``blocks``."""
    if finding.blocks:
        return finding.blocks
    if finding.check in {"ngff", "metadata-loss"} and finding.severity is Severity.ERROR:
        return "ngff"
    if finding.check.startswith("schema"):
        return BLOCKS_BY_LEVEL.get(finding.level)
    return None


def severity_for(blocks: str | None, target: str) -> Severity:
    """Beyond the profile's target: information; within it, an error below REMBI, else a warning."""
    if blocks is None:
        return Severity.INFO
    rank = FAIR_LEVELS.index(blocks)
    if rank > FAIR_LEVELS.index(target):
        return Severity.INFO
    return Severity.ERROR if rank <= FAIR_LEVELS.index("rembi") else Severity.WARNING


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
    def __init__(self, schema: dict[str, Any], schema_id: str, target: str) -> None:
        self.schema = schema
        self.schema_id = schema_id
        self.target = target
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
            # a rule (if/then) may name the property with only what it adds: join both
            declared = self._lookup([*path, missing])
            extra = sub.get("properties", {}).get(missing, {})
            prop = {**declared, **extra}
            needed = [*declared.get("required", []), *extra.get("required", [])]
            if needed:
                prop["required"] = list(dict.fromkeys(needed))
            ann = {**inherited, **_annotation(sub), **_annotation(prop)}
            # a child states its own condition; only who fixes it and the module carry down
            down = {k: v for k, v in ann.items() if k not in {"condition", "blocks"}}
            if prop.get("type") == "object" and prop.get("required"):
                yield from self.findings({}, prop, [*path, missing], down)
                return
            if (
                prop.get("type") == "array"
                and isinstance(prop.get("items"), dict)
                and prop["items"].get("required")
            ):
                yield from self.findings({}, prop["items"], [*path, missing, 0], down)
                return
            message = f"missing: {_join([*path, missing])}"
            if condition := ann.get("condition"):
                message += f" (required when {condition})"
            yield self._finding([*path, missing], ann, message)
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
        blocks = ann.get("blocks") or BLOCKS_BY_LEVEL.get(level)
        return Finding(
            path=_join(path),
            module=ann.get("module") or self.module_of(path),
            level=level,
            severity=severity_for(blocks, self.target),
            message=message,
            fix_hint=ann.get("fix", ""),
            check=f"schema:{self.schema_id}",
            blocks=blocks,
        )


def check_record(
    record: MetadataRecord,
    schema_name: str = DEFAULT_SCHEMA,
    *,
    target: str = "rembi+nbo-tier1",
) -> list[Finding]:
    """Findings of ``record`` against the named schema and its modules; never raises on findings.

    ``target`` is the FAIR level the facility profile asks for; it sets the severities only.
    """
    schema = bundled(schema_name)
    walker = _Walker(schema, load(schema_name)["$id"], target)
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
    return sorted(bundled(schema_name).get("properties", {}))


def unknown_fields(paths: Iterable[str], schema_name: str = DEFAULT_SCHEMA) -> list[str]:
    """The field paths that fall outside every module of the schema (typos, other records)."""
    modules = set(schema_modules(schema_name))
    return [p for p in paths if parse_path(p)[0] not in modules]
