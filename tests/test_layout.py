"""The top level is fixed by the design: each package comes from this repository, and no
installed distribution ships a module of the same name (PyPI has e.g. `validators`)."""

from __future__ import annotations

import importlib
import importlib.metadata
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = [
    "flows",
    "ingest",
    "metadata",
    "converters",
    "validators",
    "schemas",
    "targets",
    "catalog",
    "core",
]


@pytest.mark.parametrize("name", PACKAGES)
def test_package_imports_from_this_repository(name: str) -> None:
    module = importlib.import_module(name)
    assert module.__file__ is not None
    assert Path(module.__file__).resolve().parent == REPO / name


@pytest.mark.parametrize("name", PACKAGES)
def test_no_other_distribution_ships_the_name(name: str) -> None:
    owners = set(importlib.metadata.packages_distributions().get(name, []))
    assert owners <= {"fairway"}, f"{name} is also shipped by {owners - {'fairway'}}"


def test_top_level_layout() -> None:
    for entry in [
        *PACKAGES,
        "tests",
        "benchmarks",
        "prefect.yaml",
        "pyproject.toml",
        "README.md",
        ".ci/run",
        "requirements.lock",
    ]:
        assert (REPO / entry).exists(), entry


def test_console_script_is_declared() -> None:
    eps = importlib.metadata.entry_points(group="console_scripts")
    assert any(ep.name == "fairway" and ep.value == "flows.cli:main" for ep in eps)


def test_lock_pins_every_requirement_exactly() -> None:
    lines = [
        ln
        for ln in (REPO / "requirements.lock").read_text().splitlines()
        if ln.strip() and not ln.startswith("#")
    ]
    assert lines
    assert all("==" in ln for ln in lines), [ln for ln in lines if "==" not in ln]
    pins = dict(ln.split("==", 1) for ln in lines)
    assert pins["fastapi"] == "0.150.0"  # prefect 3.8.8's server breaks with newer fastapi
