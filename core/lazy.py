"""Names a package exports but imports on first use (PEP 562 module ``__getattr__``).

``core`` and ``validators`` re-export names whose modules are slow to import (pydantic models,
zarr); a command that needs none of them should not pay for them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib import import_module
from typing import Any

__all__ = ["lazy_attributes"]


def lazy_attributes(
    package: str, homes: Mapping[str, str], namespace: dict[str, Any]
) -> Callable[[str], Any]:
    """A module ``__getattr__`` importing ``homes[name]`` on first use and caching the name.

    Parameters
    ----------
    package
        The package's ``__name__`` (for the error of an unknown name).
    homes
        Each exported name and the module it lives in.
    namespace
        The package's ``globals()``: a name, once imported, is found there directly.
    """

    def __getattr__(name: str) -> Any:
        if name not in homes:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(import_module(homes[name]), name)
        namespace[name] = value
        return value

    return __getattr__
