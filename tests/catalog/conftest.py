"""The catalog on SQLite and on PostgreSQL: every catalog test runs on both engines."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from catalog import Catalog


@pytest.fixture(params=["sqlite", "postgresql"])
def catalog(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Catalog]:
    """A fresh catalog on each engine (PostgreSQL: a database made and dropped per test)."""
    url = (
        f"sqlite:///{tmp_path / 'c.sqlite'}"
        if request.param == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    cat = Catalog.open(url)
    try:
        yield cat
    finally:
        cat.close()
