"""A re-delivery of archived pixels: said plainly, and a changed sidecar is not silently lost.

The same image delivered again is the same dataset (identity is the content). The summary
says which one ("already archived as fw-…"); when the re-delivery's sidecar says something
else than the archived record, the difference is recorded once as a proposed curation that
the gap report shows, until a curator applies it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from flows.cli import app
from ingest.samples import SIDECAR_YAML
from tests.factories import age, make_ome_tiff

runner = CliRunner()

NEW_TITLE = "Focal adhesions in HeLa cells, re-delivered with a corrected title"


def _proposals(home: Path, dataset: str) -> list[dict[str, object]]:
    result = runner.invoke(app, ["--home", str(home), "gaps", dataset, "--json"])
    assert result.exit_code == 0, result.output
    return [f for f in json.loads(result.stdout) if f["check"] == "proposed-curation"]


def test_a_redelivery_is_named_and_its_sidecar_proposed(tmp_path: Path) -> None:
    first, again = tmp_path / "first", tmp_path / "again"
    make_ome_tiff(first / "a.ome.tif")
    (first / "fairway.yaml").write_text(SIDECAR_YAML, encoding="utf-8")
    again.mkdir()
    shutil.copy2(first / "a.ome.tif", again / "a.ome.tif")
    (again / "fairway.yaml").write_text(
        SIDECAR_YAML.replace(
            "Live-cell imaging of EGFP-tagged focal adhesions in HeLa cells", NEW_TITLE
        ),
        encoding="utf-8",
    )
    age(tmp_path)
    home = tmp_path / "home"
    base = ["--home", str(home), "ingest", "--quiet-seconds", "0"]
    [archived] = json.loads(runner.invoke(app, [*base, str(first), "--json"]).stdout)["outcomes"]
    assert archived["outcome"] == "archived"
    dataset = archived["dataset"]
    assert _proposals(home, dataset) == []
    # the same image again: a duplicate (JSON stable), named in words
    result = runner.invoke(app, [*base, str(again), "--json"])
    [dup] = json.loads(result.stdout)["outcomes"]
    assert dup["outcome"] == "duplicate" and dup["dataset"] == dataset
    assert f"already archived as {dataset}" in dup["reason"]
    assert "sidecar" in dup["reason"]
    table = runner.invoke(app, [*base, str(again)], env={"COLUMNS": "300"})
    [row] = [ln for ln in table.output.splitlines() if "a.ome.tif" in ln and ln.startswith("│")]
    assert "already archived" in row and f"already archived as {dataset}" in row
    # its different sidecar is a proposed curation, once however often it is seen
    [proposal] = _proposals(home, dataset)
    assert proposal["path"] == "study.title" and NEW_TITLE in str(proposal["message"])
    assert "fairway fix" in str(proposal["fix_hint"])
    # a curator applies it: the proposal is answered
    fixed = runner.invoke(
        app,
        ["--home", str(home), "fix", dataset, "--set", f"study.title={NEW_TITLE}", "--reason", "r"],
    )
    assert fixed.exit_code == 0, fixed.output
    assert _proposals(home, dataset) == []
