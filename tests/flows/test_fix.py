"""Curators' fixes: validated before they stick, audited, re-validated, all or nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from catalog import Catalog
from core.settings import load_settings
from flows.cli import app
from ingest.samples import SIDECAR_YAML
from metadata.sidecar import read_sidecar
from tests.factories import age, make_ome_tiff, make_plain_tiff

pytestmark = pytest.mark.usefixtures("prefect_harness")
runner = CliRunner()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    inbox = tmp_path / "inbox"
    make_ome_tiff(inbox / "a.ome.tif")
    make_plain_tiff(inbox / "b.tif")
    age(inbox)
    home = tmp_path / "home"
    result = runner.invoke(app, ["--home", str(home), "ingest", str(inbox), "--quiet-seconds", "1"])
    assert result.exit_code == 0, result.output
    return home


def _dataset(home: Path, name: str) -> str:
    result = runner.invoke(app, ["--home", str(home), "status", "--json"])
    return next(r["dataset"] for r in json.loads(result.stdout) if r["source"].endswith(name))


def _sidecar_fields(tmp_path: Path) -> dict[str, object]:
    side = tmp_path / "fairway.yaml"
    side.write_text(SIDECAR_YAML, encoding="utf-8")
    return {k: v.value for k, v in read_sidecar(side, max_bytes=10**6).items()}


def test_fix_raises_the_fair_level_and_is_audited(home: Path, tmp_path: Path) -> None:
    dataset = _dataset(home, "b.tif")
    fields = _sidecar_fields(tmp_path)
    args = ["--home", str(home), "fix", dataset, "--reason", "curated from the lab notebook"]
    for path, value in fields.items():
        if not isinstance(value, list):
            args += ["--set", f"{path}={value}"]
    # what the plain TIFF lacks besides the study: pixel sizes, and a list item
    args += ["--set", "pixels.physical_size_x=0.2", "--set", "pixels.physical_size_y=0.2"]
    args += ["--set", "study.keywords[0]=focal adhesion"]
    args += ["--by", "curator-anna", "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    [fixed] = json.loads(result.stdout)
    assert fixed["fair_level_before"] == "ngff"
    assert fixed["fair_level"] != "ngff"
    assert {c["path"] for c in fixed["changes"]} >= {"study.title", "study.license"}
    catalog = Catalog.open(load_settings(home).catalog_url)
    try:
        row = catalog.find(dataset)
        assert row is not None and row.fair_level == fixed["fair_level"]
        assert row.record["fields"]["study.license"] == {
            "value": "CC-BY-4.0",
            "source": "curator:curator-anna",
        }
        events = [e for e in catalog.events(row.id) if e.step == "curate"]
    finally:
        catalog.close()
    licence = next(e for e in events if e.detail and e.detail.get("path") == "study.license")
    assert licence.actor == "curator-anna" and licence.at is not None
    assert licence.detail["old"] is None and licence.detail["new"] == "CC-BY-4.0"
    assert licence.detail["reason"] == "curated from the lab notebook"
    assert events[-1].action == "revalidate"


def test_bad_values_are_refused_and_nothing_is_applied(home: Path, tmp_path: Path) -> None:
    a, b = _dataset(home, "a.ome.tif"), _dataset(home, "b.tif")
    table = tmp_path / "fixes.csv"
    table.write_text(
        f"dataset,study.license,pixels.physical_size_x\n{b},CC0-1.0,\n{a},CC0-1.0,not-a-number\n",
        encoding="utf-8",
    )
    result = runner.invoke(
        app, ["--home", str(home), "fix", "--from", str(table), "--reason", "bulk licence"]
    )
    assert result.exit_code == 2
    assert "pixels.physical_size_x" in result.output and "nothing was changed" in result.output
    catalog = Catalog.open(load_settings(home).catalog_url)
    try:
        for d in (a, b):
            row = catalog.find(d)
            assert row is not None
            assert "study.license" not in row.record["fields"] or d == a
            assert not [e for e in catalog.events(row.id) if e.step == "curate"]
    finally:
        catalog.close()
    # an unknown field path and a missing reason are refused too
    bad_path = runner.invoke(
        app, ["--home", str(home), "fix", b, "--set", "studdy.title=x", "--reason", "typo"]
    )
    assert bad_path.exit_code == 2 and "not a field of the metadata schema" in bad_path.output
    no_reason = runner.invoke(app, ["--home", str(home), "fix", b, "--set", "study.title=x"])
    assert no_reason.exit_code == 2 and "reason" in no_reason.output


def test_yaml_bulk_fix(home: Path, tmp_path: Path) -> None:
    b = _dataset(home, "b.tif")
    doc = tmp_path / "fixes.yaml"
    doc.write_text(
        f"{b}:\n  study.license: CC0-1.0\n  study.title: Synthetic blobs for the fix test\n",
        encoding="utf-8",
    )
    result = runner.invoke(
        app, ["--home", str(home), "fix", "--from", str(doc), "--reason", "r", "--json"]
    )
    assert result.exit_code == 0, result.output
    [fixed] = json.loads(result.stdout)
    assert sorted(c["path"] for c in fixed["changes"]) == ["study.license", "study.title"]
