"""YAML for files people write (sidecars, fixes, profiles, the instrument registry).

``yaml.safe_load`` builds no objects, but left alone it has no limits:

* anchors and aliases expand: nine lines of nested aliases become a billion list items (an
  alias bomb). None of fairway's files needs them, so a document with an anchor or an alias
  is refused before anything is built;
* nesting has no bound: PyYAML's scanner keeps a candidate key per open ``[``/``{`` on the
  line and looks at all of them for every token (quadratic: 2,000 levels take seconds,
  100,000 levels ten minutes), and its composer recurses once per level (a
  ``RecursionError`` past about 300 levels).

:func:`load_yaml` reads the document in one pass with PyYAML's own scanner, parser and
composer, counting as it goes: the scanner refuses a flow collection or an indentation level
deeper than :data:`MAX_DEPTH`, the composer a node deeper than that and any anchor or alias.
No token beyond the limit is scanned, so the work is linear in the text whatever it holds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from core.errors import UnsafeInputError

__all__ = ["MAX_DEPTH", "load_yaml"]

#: most sequences and mappings nested in one another in a YAML document (fairway's own
#: files need fewer than ten)
MAX_DEPTH = 64


class _Refused(Exception):
    """Raised inside the loader; turned into :class:`UnsafeInputError` with the file."""


class _BoundedLoader(yaml.SafeLoader):  # type: ignore[misc]  # PyYAML has no types
    """PyYAML's safe loader with a depth bound in the scanner and composer, and no anchors."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def _too_deep(self) -> _Refused:
        mark = self.get_mark()
        return _Refused(f"the YAML nests deeper than {MAX_DEPTH} levels (line {mark.line + 1})")

    # scanner: '[' and '{' (one level each), and block indentation
    def fetch_flow_collection_start(self, TokenClass: Any) -> None:
        if self.flow_level >= MAX_DEPTH:
            raise self._too_deep()
        super().fetch_flow_collection_start(TokenClass)

    def add_indent(self, column: int) -> bool:
        if len(self.indents) >= MAX_DEPTH:
            raise self._too_deep()
        return bool(super().add_indent(column))

    # composer: every node, aliases and anchors
    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise _Refused(
                "YAML anchors and aliases are not accepted (they can expand without bound)"
            )
        if not isinstance(event, yaml.CollectionStartEvent):
            return super().compose_node(parent, index)
        if self._depth >= MAX_DEPTH:
            raise self._too_deep()
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def load_yaml(text: str, *, where: Path | str) -> Any:
    """The YAML document in ``text``, read with bounded work.

    Raises
    ------
    UnsafeInputError
        The document uses an anchor or an alias, or nests deeper than :data:`MAX_DEPTH`.
    yaml.YAMLError
        It is not YAML.
    """
    loader = _BoundedLoader(text)
    try:
        return loader.get_single_data()
    except _Refused as exc:
        hint = (
            "write the values out in full"
            if "anchor" in str(exc)
            else f"flatten the document to at most {MAX_DEPTH} levels"
        )
        raise UnsafeInputError(str(exc), where=where, hint=hint) from None
    except RecursionError:  # a safety net: the bounds above keep the recursion shallow
        raise UnsafeInputError(
            "YAML nests too deep to read", where=where, hint="flatten the document"
        ) from None
    finally:
        loader.dispose()
