"""Quantities are converted with pint, exactly, with their units (never by hand)."""

from __future__ import annotations

from pathlib import Path

import pytest
import tifffile

from core.settings import Settings
from core.units import UnitError, convert, quantity_text
from metadata.extract import extract
from tests.factories import acquisition_of, blobs


@pytest.mark.parametrize(
    ("value", "unit", "to", "expected"),
    [
        (100_000_000, "ns", "ms", 100.0),  # ZEN's ExposureTime
        (100.0, "ms", "s", 0.1),
        (1, "µm", "nm", 1000.0),  # no float noise
        (9.058e-8, "m", "µm", 0.09058),
        (1e-4, "cm", "µm", 1.0),
        (20, "°C", "K", 293.15),
        (1, "mm Hg", "Pa", 133.322387415),
    ],
)
def test_convert(value: float, unit: str, to: str, expected: float) -> None:
    assert convert(value, unit, to) == expected


def test_units_of_different_things_or_unknown_are_refused() -> None:
    with pytest.raises(UnitError, match="cannot convert"):
        convert(1, "s", "m")
    with pytest.raises(UnitError):
        convert(1, "furlongs-per-blink", "m")
    assert quantity_text(100.0, "ms") == "100 ms"


def test_a_tiff_resolution_in_pixels_per_centimetre(tmp_path: Path, settings: Settings) -> None:
    path = tmp_path / "cm.tif"
    tifffile.imwrite(
        path,
        blobs((40, 40), n=2, sigma=3, seed=1),
        resolution=(20_000, 20_000),  # pixels per cm: 0.5 µm pixels
        resolutionunit="CENTIMETER",
        metadata=None,
    )
    record = extract(acquisition_of(path), settings)
    assert record.value("pixels.physical_size_x") == 0.5
    assert record.value("pixels.physical_size_x_unit") == "µm"
