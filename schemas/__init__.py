"""Schema files of fairway (JSON Schema 2020-12), loaded with ``importlib.resources``."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

__all__ = ["DEFAULT_SCHEMA", "available", "load"]

DEFAULT_SCHEMA = "rembi-nbo-tier1"


def available() -> list[str]:
    """Names of the schemas shipped with fairway."""
    return sorted(
        p.name.removesuffix(".schema.json")
        for p in resources.files(__name__).iterdir()
        if p.name.endswith(".schema.json")
    )


@cache
def _load(name: str) -> str:
    return resources.files(__name__).joinpath(f"{name}.schema.json").read_text(encoding="utf-8")


def load(name: str = DEFAULT_SCHEMA) -> dict[str, Any]:
    """Return a fresh copy of the schema ``name``."""
    if name not in available():
        raise KeyError(f"no schema {name!r}; available: {', '.join(available())}")
    doc: dict[str, Any] = json.loads(_load(name))
    return doc
