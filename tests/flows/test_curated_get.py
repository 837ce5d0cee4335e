"""`fairway get` of curated datasets: after a fix, a bulk fix, accepted suggestions, two curators.

Each test chains the real steps (ingest a real file, fix through the CLI, get through the
CLI) and then opens what a researcher takes away: the RO-Crate parses with the rocrate
library and the OME-Zarr opens with zarr.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import zarr
from rocrate.rocrate import ROCrate
from typer.testing import CliRunner

from flows.cli import app
from ingest.samples import SIDECAR_YAML, write_registry
from tests.factories import age, make_ome_tiff

runner = CliRunner()


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("curated-get")
    inbox = root / "inbox"
    for name, seed in (("one", 11), ("bulk", 12), ("suggest", 13), ("two", 14)):
        make_ome_tiff(inbox / name / f"{name}.ome.tif", seed=seed)
        (inbox / name / "fairway.yaml").write_text(SIDECAR_YAML, encoding="utf-8")
    age(inbox)
    home = root / "home"
    write_registry(home)
    result = runner.invoke(app, ["--home", str(home), "ingest", str(inbox), "--quiet-seconds", "1"])
    assert result.exit_code == 0, result.output
    return home


def _dataset(home: Path, name: str) -> str:
    rows = json.loads(runner.invoke(app, ["--home", str(home), "status", "--json"]).stdout)
    return next(r["dataset"] for r in rows if r["source"].endswith(f"{name}.ome.tif"))


def _fix(home: Path, *args: str) -> dict[str, object]:
    result = runner.invoke(app, ["--home", str(home), "fix", *args, "--json"])
    assert result.exit_code == 0, result.output
    fixed: list[dict[str, object]] = json.loads(result.stdout)
    return fixed[0]


def _get_and_open(home: Path, dataset: str, dest: Path) -> dict[str, dict[str, object]]:
    """Get the bundle, then open it as a researcher would; the crate's entities by id."""
    result = runner.invoke(app, ["--home", str(home), "get", dataset, str(dest), "--json"])
    assert result.exit_code == 0, result.output
    bundle = Path(json.loads(result.stdout)["path"])
    crate = ROCrate(bundle)
    assert crate.root_dataset["identifier"]["value"] == dataset
    store = zarr.open_group(str(bundle / f"{dataset}.ome.zarr"), mode="r")
    image = store  # one image: a plain NGFF image at the store's top level
    level0 = image[dict(image.attrs)["ome"]["multiscales"][0]["datasets"][0]["path"]]
    assert level0.shape[-2:] == (96, 80) and int(level0[..., :8, :8].max()) >= 0
    graph = json.loads((bundle / "ro-crate-metadata.json").read_text(encoding="utf-8"))["@graph"]
    ids = [e["@id"] for e in graph]
    assert len(ids) == len(set(ids)), "every entity once"
    return {e["@id"]: e for e in graph}


def _curators(graph: dict[str, dict[str, object]]) -> set[str]:
    """Names of the people the crate's update actions name as their agent."""
    agents = {
        str(a["agent"]["@id"])
        for a in graph.values()
        if a.get("@type") == "UpdateAction" and a.get("agent")
    }
    return {str(graph[i]["name"]) for i in agents if graph[i].get("@type") == "Person"}


def test_get_after_one_fix(home: Path, tmp_path: Path) -> None:
    dataset = _dataset(home, "one")
    _fix(
        home,
        dataset,
        "--set",
        "study.title=Curated title of the focal adhesion study",
        "--reason",
        "r",
        "--by",
        "anna",
    )
    graph = _get_and_open(home, dataset, tmp_path)
    assert graph["./"]["name"] == "Curated title of the focal adhesion study"
    assert _curators(graph) == {"anna"}


def test_get_after_bulk_fixes_from_csv_and_yaml(home: Path, tmp_path: Path) -> None:
    dataset = _dataset(home, "bulk")
    table = tmp_path / "fixes.csv"
    table.write_text(
        f"dataset,study.title,study.keywords[4]\n{dataset},Title written by a bulk CSV fix,csv\n"
    )
    _fix(home, "--from", str(table), "--reason", "bulk csv", "--by", "anna")
    doc = tmp_path / "fixes.yaml"
    doc.write_text(
        f"{dataset}:\n  study.title: Title written by a bulk YAML fix\n  study.keywords[5]: yaml\n"
    )
    _fix(home, "--from", str(doc), "--reason", "bulk yaml", "--by", "anna")
    graph = _get_and_open(home, dataset, tmp_path / "out")
    assert graph["./"]["name"] == "Title written by a bulk YAML fix"
    keywords = json.dumps(graph["./"]["keywords"])
    assert '"csv"' in keywords and '"yaml"' in keywords


def test_get_after_accepting_suggestions(home: Path, tmp_path: Path) -> None:
    dataset = _dataset(home, "suggest")
    fixed = _fix(
        home,
        dataset,
        "--accept-suggestions",
        "--set",
        "study.title=Title set beside accepted suggestions",
        "--reason",
        "r",
        "--by",
        "anna",
    )
    assert fixed["metadata_version"] == 2
    assert _curators(_get_and_open(home, dataset, tmp_path)) == {"anna"}


def test_get_after_two_curators(home: Path, tmp_path: Path) -> None:
    dataset = _dataset(home, "two")
    _fix(
        home,
        dataset,
        "--set",
        "study.title=First curator's title of the study",
        "--reason",
        "one",
        "--by",
        "anna",
    )
    _fix(
        home,
        dataset,
        "--set",
        "study.title=Second curator's title of the study",
        "--reason",
        "two",
        "--by",
        "Ben Curator",
    )
    graph = _get_and_open(home, dataset, tmp_path)
    assert graph["./"]["name"] == "Second curator's title of the study"
    assert _curators(graph) == {"anna", "Ben Curator"}
