"""Dotted field paths (``channels[0].name``) to and from nested documents."""

from __future__ import annotations

import itertools
import re
from typing import Any

__all__ = ["MAX_INDEX", "MAX_SEGMENTS", "expand", "flatten", "parse_path"]

_TOKEN = re.compile(r"([^.\[\]]+)|\[(\d+)\]")

#: most parts a field path may have (``channels[0].name`` has three); paths come from files
#: people write, and :func:`expand` builds one nested level per part
MAX_SEGMENTS = 32
#: largest list index in a field path (:func:`expand` fills a list up to it)
MAX_INDEX = 100_000


def parse_path(path: str) -> list[str | int]:
    """Split ``a.b[2].c`` into ``['a', 'b', 2, 'c']``.

    Raises
    ------
    ValueError
        The path is empty, has more than :data:`MAX_SEGMENTS` parts or an index above
        :data:`MAX_INDEX`.
    """
    parts: list[str | int] = []
    for n, (name, index) in enumerate(_TOKEN.findall(path)):
        if n >= MAX_SEGMENTS:
            raise ValueError(f"field path has more than {MAX_SEGMENTS} parts: {path[:80]!r}")
        if index and (len(index) > 6 or int(index) > MAX_INDEX):
            raise ValueError(f"index [{index[:12]}] above {MAX_INDEX} in {path[:80]!r}")
        parts.append(int(index) if index else name)
    if not parts:
        raise ValueError(f"empty field path: {path!r}")
    return parts


def expand(flat: dict[str, Any]) -> dict[str, Any]:
    """Turn ``{'a.b[0].c': 1}`` into ``{'a': {'b': [{'c': 1}]}}``.

    Lists are filled with ``None`` up to each index; all together they hold at most one item
    per path plus :data:`MAX_INDEX`, so sparse indices cannot make the work explode.

    Raises
    ------
    ValueError
        Two paths conflict, a path is not a field path, or the lists would grow past that.
    """
    root: dict[str, Any] = {}
    budget = len(flat) + MAX_INDEX
    for path, value in sorted(flat.items()):
        try:
            budget -= _put(root, parse_path(path), value)
        except (KeyError, IndexError, TypeError, AttributeError):
            raise ValueError(f"field path {path!r} conflicts with another path") from None
        if budget < 0:
            raise ValueError(f"list indices too sparse (at {path[:80]!r})")
    return root


def _put(root: dict[str, Any], parts: list[str | int], value: Any) -> int:
    """Put ``value`` at ``parts``; how many list items were added."""
    added = 0
    node: Any = root
    for here, nxt in itertools.pairwise(parts):
        empty: Any = [] if isinstance(nxt, int) else {}
        if isinstance(here, int):
            added += max(0, here + 1 - len(node))
            node.extend([None] * (here + 1 - len(node)))
            if node[here] is None:
                node[here] = empty
            node = node[here]
        else:
            node = node.setdefault(here, empty)
    last = parts[-1]
    if isinstance(last, int):
        added += max(0, last + 1 - len(node))
        node.extend([None] * (last + 1 - len(node)))
    node[last] = value
    return added


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
