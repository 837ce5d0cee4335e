"""YAML for files people write (sidecars, fixes, profiles, the instrument registry).

``yaml.safe_load`` builds no objects, but it still expands anchors and aliases: nine lines of
nested aliases become a billion list items (an alias bomb). None of fairway's files needs
them, so a document with an anchor or an alias is refused before it is built.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from core.errors import UnsafeInputError

__all__ = ["load_yaml"]


def load_yaml(text: str, *, where: Path | str) -> Any:
    """The YAML document in ``text``; anchors and aliases are refused.

    Raises
    ------
    UnsafeInputError
        The document uses an anchor or an alias.
    yaml.YAMLError
        It is not YAML.
    """
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise UnsafeInputError(
                "YAML anchors and aliases are not accepted (they can expand without bound)",
                where=where,
                hint="write the values out in full",
            )
    return yaml.safe_load(text)
