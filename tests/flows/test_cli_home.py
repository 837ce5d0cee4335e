"""The CLI refuses what does not exist: an unknown dataset id, a home without a catalog.

A mistyped ``--home`` must not silently become a new, empty home; only the commands that
start one (ingest, watch, demo, dicom-listen) may create its catalog.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import app
from tests.factories import age, make_ome_tiff

runner = CliRunner()


@pytest.mark.parametrize(
    "args",
    [
        ["status"],
        ["show", "fw-nope"],
        ["gaps"],
        ["fix", "fw-nope", "--set", "study.title=x", "--reason", "r"],
        ["verify"],
        ["verify", "fw-nope"],
        ["search", "cells"],
        ["get", "fw-nope", "out"],
        ["publish", "fw-nope", "out", "--to", "bia"],
        ["retry", "fw-nope"],
        ["repair", "fw-nope"],
    ],
)
def test_a_home_without_a_catalog_is_refused(tmp_path: Path, args: list[str]) -> None:
    typo = tmp_path / "hmoe"
    result = runner.invoke(app, ["--home", str(typo), *args])
    assert result.exit_code == 2, result.output
    assert "no catalog" in result.output and str(typo) in result.output
    assert "--home" in result.output
    assert not typo.exists(), "nothing is created in a mistyped home"


def test_unknown_dataset_ids_are_no_such_dataset(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    make_ome_tiff(inbox / "a.ome.tif")
    age(inbox)
    home = ["--home", str(tmp_path / "home")]
    ingested = runner.invoke(app, [*home, "ingest", str(inbox), "--quiet-seconds", "0"])
    assert ingested.exit_code == 0, ingested.output
    for args in (["verify", "fw-nope"], ["verify", "fw-nope", "--json"], ["repair", "fw-nope"]):
        result = runner.invoke(app, [*home, *args])
        assert result.exit_code == 2, (args, result.output)
        assert "no such dataset" in result.output and "fw-nope" in result.output
        assert "DAMAGED" not in result.output
    # the real one still verifies
    [dataset] = [
        r["dataset"] for r in json.loads(runner.invoke(app, [*home, "status", "--json"]).stdout)
    ]
    assert runner.invoke(app, [*home, "verify", dataset]).exit_code == 0
