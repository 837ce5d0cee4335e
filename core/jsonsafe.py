"""JSON for files people write (sidecars) and metadata read from inputs (NGFF attributes).

The standard library's decoder recurses once per level and ends in a ``RecursionError`` on
a document nested a few thousand deep (a 2 KB file). :func:`load_json` first finds the
deepest nesting in one linear pass over the text (strings skipped, so brackets inside them
do not count) and refuses more than :data:`MAX_DEPTH` levels before decoding.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from core.errors import CorruptInputError, UnsafeInputError

__all__ = ["MAX_DEPTH", "check_json_depth", "load_json"]

#: deepest nesting accepted in a JSON document (the same bound as YAML's)
MAX_DEPTH = 64

#: a string (with its escapes), or one bracket; everything else is skipped by the search
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"?|[\[\]{}]', re.S)


def check_json_depth(text: str, *, where: Path | str, max_depth: int = MAX_DEPTH) -> None:
    """Refuse ``text`` if its arrays and objects nest deeper than ``max_depth``.

    Raises
    ------
    UnsafeInputError
        Deeper than ``max_depth`` (the message names the character offset).
    """
    depth = 0
    for m in _TOKEN.finditer(text):
        ch = m.group()
        if ch in "[{":
            depth += 1
            if depth > max_depth:
                raise UnsafeInputError(
                    f"the JSON nests deeper than {max_depth} levels (at character {m.start()})",
                    where=where,
                    hint=f"flatten the document to at most {max_depth} levels",
                )
        elif ch in "]}":
            depth -= 1


def load_json(text: str, *, where: Path | str, max_depth: int = MAX_DEPTH) -> Any:
    """The JSON document in ``text``, nested at most ``max_depth`` deep.

    Raises
    ------
    UnsafeInputError
        It nests deeper than ``max_depth``.
    CorruptInputError
        It is not JSON.
    """
    check_json_depth(text, where=where, max_depth=max_depth)
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        raise CorruptInputError(
            f"not valid JSON ({exc})"[:300], where=where, hint="fix its syntax"
        ) from None
