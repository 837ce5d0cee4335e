"""Validate a metadata record against fairway's JSON Schemas, as findings.

Every property of a fairway schema carries an ``x-fairway`` annotation (level, module, fix,
and for conditional rules the FAIR level it holds back and the condition). A missing object is
expanded into one finding per missing leaf, so a curator sees every field to supply, not just
"study is required". Severity depends on the facility profile's target: a gap beyond the
target is information; within it, a gap that holds back the REMBI set is an error and one that
holds back an NBO tier is a warning.
"""

from __future__ import annotations

import difflib
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
    "field_path_problem",
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
    """The field paths that are not fields of the schema (typos, other records)."""
    return [p for p in paths if field_path_problem(p, schema_name) is not None]


def _children(node: dict[str, Any]) -> dict[str, Any]:
    """The properties an object schema declares, also in its ``allOf``/``if``/``then`` parts."""
    props: dict[str, Any] = dict(node.get("properties", {}))
    for sub in [*node.get("allOf", []), *node.get("anyOf", []), *node.get("oneOf", [])]:
        for part in (sub, sub.get("then", {}), sub.get("else", {})):
            for key, value in part.get("properties", {}).items():
                props.setdefault(key, value)
    return props


def _nearest(wanted: str, names: Iterable[str], prefix: list[str | int]) -> str:
    close = difflib.get_close_matches(wanted, sorted(names), n=3, cutoff=0.6)
    if not close:
        return ""
    return " (did you mean " + " or ".join(_join([*prefix, c]) for c in close) + "?)"


def field_path_problem(path: str, schema_name: str = DEFAULT_SCHEMA) -> str | None:
    """Why ``path`` is not a field of the schema, with the nearest valid names; ``None`` if it is.

    Every segment is checked: a name must be a property of the object above it, an index
    must follow a list. ``<quantity>_unit`` beside a numeric field is a field (the unit the
    value is in).
    """
    try:
        parts = parse_path(path)
    except ValueError as exc:
        return str(exc)
    node: dict[str, Any] = bundled(schema_name)
    done: list[str | int] = []
    for i, part in enumerate(parts):
        if isinstance(part, int):
            items = node.get("items")
            if node.get("type") != "array" or not isinstance(items, dict):
                return f"{_join(done) or 'the record'} is not a list"
            node = items
            done.append(part)
            continue
        children = _children(node)
        if part in children:
            node = children[part]
            done.append(part)
            continue
        last = i == len(parts) - 1
        quantity = children.get(part.removesuffix("_unit"), {})
        if last and part.endswith("_unit") and quantity.get("type") in {"number", "integer"}:
            return None
        if not children and node.get("type") == "object":
            return None  # a free-form object: any key
        if not children:
            return f"{_join(done)} is a value, it has no field '{part}'"
        where = _join(done) or "the record"
        return f"'{part}' is not a field of {where}" + _nearest(part, children, done)
    if node.get("type") == "object" or _children(node):
        some = ", ".join(_join([*done, c]) for c in sorted(_children(node))[:4])
        return f"{_join(done)} is a group of fields; set one of them ({some}, ...)"
    if (
        node.get("type") == "array"
        and isinstance(node.get("items"), dict)
        and (_children(node["items"]))
    ):
        return f"{_join(done)} is a list of groups; set {_join(done)}[0].<field>"
    return None
