"""Dotted field paths (``channels[0].name``) to and from nested documents."""

from __future__ import annotations

import itertools
import re
from typing import Any

__all__ = ["expand", "flatten", "parse_path"]

_TOKEN = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def parse_path(path: str) -> list[str | int]:
    """Split ``a.b[2].c`` into ``['a', 'b', 2, 'c']``."""
    parts: list[str | int] = []
    for name, index in _TOKEN.findall(path):
        parts.append(int(index) if index else name)
    if not parts:
        raise ValueError(f"empty field path: {path!r}")
    return parts


def expand(flat: dict[str, Any]) -> dict[str, Any]:
    """Turn ``{'a.b[0].c': 1}`` into ``{'a': {'b': [{'c': 1}]}}``."""
    root: dict[str, Any] = {}
    for path, value in sorted(flat.items()):
        try:
            _put(root, parse_path(path), value)
        except (KeyError, IndexError, TypeError, AttributeError):
            raise ValueError(f"field path {path!r} conflicts with another path") from None
    return root


def _put(root: dict[str, Any], parts: list[str | int], value: Any) -> None:
    node: Any = root
    for here, nxt in itertools.pairwise(parts):
        empty: Any = [] if isinstance(nxt, int) else {}
        if isinstance(here, int):
            while len(node) <= here:
                node.append(None)
            if node[here] is None:
                node[here] = empty
            node = node[here]
        else:
            node = node.setdefault(here, empty)
    last = parts[-1]
    if isinstance(last, int):
        while len(node) <= last:
            node.append(None)
    node[last] = value


def flatten(doc: Any, prefix: str = "") -> dict[str, Any]:
    """Inverse of :func:`expand` (leaves are scalars or empty containers)."""
    out: dict[str, Any] = {}
    if isinstance(doc, dict) and doc:
        for key, value in doc.items():
            out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(doc, list) and doc and not all(not isinstance(v, dict | list) for v in doc):
        for i, value in enumerate(doc):
            out.update(flatten(value, f"{prefix}[{i}]"))
    else:
        out[prefix] = doc
    return out
