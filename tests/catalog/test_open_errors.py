"""A catalog that cannot be opened is one clear line with its cause, the password masked."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from catalog import Catalog
from core.errors import FairwayError
from flows.cli import app


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("nosuch://fairway:sekret@db.example/fairway", "unknown database driver 'nosuch'"),
        ("postgresql+nodriver://fairway:sekret@127.0.0.1/x", "postgresql+nodriver"),
        ("fairway:sekret@db.example", "not a database URL"),
    ],
)
def test_a_bad_catalog_url_is_refused_with_its_cause(url: str, says: str) -> None:
    with pytest.raises(FairwayError) as caught:
        Catalog.open(url)
    message = str(caught.value)
    assert says in message and "sekret" not in message
    assert "FAIRWAY_DATABASE_URL" in message


def test_a_missing_postgres_database_names_the_cause(postgres_url: str) -> None:
    url = make_url(postgres_url).set(database="fairway_no_such_db", password="sekret")
    with pytest.raises(FairwayError) as caught:
        Catalog.open(url.render_as_string(hide_password=False))
    message = str(caught.value)
    assert 'database "fairway_no_such_db" does not exist' in message
    assert "sekret" not in message and "***" in message


@pytest.mark.parametrize(
    "url",
    ["nosuch://fairway:sekret@db.example/fairway", "postgresql+psycopg://x:sekret@127.0.0.1:9/x"],
)
def test_the_cli_says_it_in_one_line(tmp_path: Path, url: str) -> None:
    result = CliRunner().invoke(
        app, ["--home", str(tmp_path), "status"], env={"FAIRWAY_DATABASE_URL": url}
    )
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "sekret" not in result.output
    [line] = result.output.strip().splitlines()
    assert line.startswith("error:")
