"""Quantities with their units, converted with pint (never by hand).

OME writes a unit beside every quantity (``ExposureTime="100.0" ExposureTimeUnit="ms"``);
a record keeps it beside the value (``planes[0].exposure_time`` and
``planes[0].exposure_time_unit``). Whatever converts or shows a quantity goes through here, so
a value is never read in a unit it is not in.
"""

from __future__ import annotations

from functools import cache
from typing import Any

__all__ = ["UnitError", "convert", "quantity_text"]

#: OME unit symbols pint spells differently
_PINT_NAMES = {"Torr": "torr", "mTorr": "millitorr", "mm Hg": "mmHg", "°C": "degC", "°F": "degF"}


class UnitError(ValueError):
    """A unit pint does not know, or units of different dimensions."""


@cache
def _registry() -> Any:
    import pint

    return pint.UnitRegistry()


def _unit_name(unit: object) -> str:
    text = str(getattr(unit, "value", unit)).strip()
    return _PINT_NAMES.get(text, text)


def convert(value: float, unit: object, to: object) -> float:
    """``value`` in ``unit`` expressed in ``to`` (OME symbols or pint names: ``ms``, ``µm``).

    Raises
    ------
    UnitError
        Either unit is unknown, or they measure different things.
    """
    import pint

    ureg = _registry()
    try:
        result = ureg.Quantity(float(value), _unit_name(unit)).to(_unit_name(to)).magnitude
    except (pint.errors.PintError, AttributeError, TypeError, ValueError) as exc:
        raise UnitError(f"cannot convert {value} {unit} to {to}: {exc}") from None
    return float(f"{float(result):.15g}")  # drop float noise (1 µm is 1000 nm, not 999.99…)


def quantity_text(value: object, unit: object) -> str:
    """``100 ms``: the value in its shortest form and its unit, as written in the source."""
    number = f"{value:g}" if isinstance(value, int | float) else str(value)
    return f"{number} {getattr(unit, 'value', unit)}"
