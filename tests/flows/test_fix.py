"""Curators' fixes: validated before they stick, audited, re-validated, all or nothing."""

from __future__ import annotations

import json
from pathlib import Path

import bagit
import pytest
from typer.testing import CliRunner

from catalog import Catalog
from core.settings import load_settings
from flows.cli import app
from ingest.samples import SIDECAR_YAML
from metadata.sidecar import read_sidecar
from tests.factories import age, make_ome_tiff, make_plain_tiff

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
        # the sample sidecar's channel settings and annotations belong to another image
        if not isinstance(value, list) and not path.startswith(("channels", "annotations")):
            args += ["--set", f"{path}={value}"]
    # what the plain TIFF lacks besides the study: pixel sizes, and a list item
    args += ["--set", "pixels.physical_size_x=0.2", "--set", "pixels.physical_size_y=0.2"]
    args += ["--set", "study.keywords[0]=focal adhesion"]
    args += ["--by", "curator-anna", "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    [fixed] = json.loads(result.stdout)
    assert fixed["fair_level_before"] == "ngff"
    # the REMBI set is complete now; NBO hardware is what a plain TIFF still lacks
    assert fixed["fair_level"] == "rembi"
    assert fixed["metadata_version"] == 2
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


class PowerCutError(BaseException):
    """The process dies: nothing after this line runs (not even `except Exception`)."""


def _payload_hashes(bag: Path) -> dict[str, str]:
    lines = (bag / "manifest-sha256.txt").read_text(encoding="utf-8").splitlines()
    return {rel: digest for digest, rel in (line.split(maxsplit=1) for line in lines)}


def test_fix_archives_a_new_metadata_version_and_keeps_the_old(home: Path) -> None:
    """fix -> re-validate -> new archive version (RO-Crate, OME, scale) -> old one retrievable."""
    dataset = _dataset(home, "a.ome.tif")
    bag = load_settings(home).archive_root / dataset
    before = _payload_hashes(bag)
    chunks = {k: v for k, v in before.items() if "/c/" in k}
    assert chunks
    args = ["--home", str(home), "fix", dataset, "--reason", "recalibrated stage micrometer"]
    args += ["--set", "pixels.physical_size_x=0.11", "--set", "pixels.physical_size_y=0.11"]
    args += ["--set", "study.title=Focal adhesions after the stage recalibration", "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    [fixed] = json.loads(result.stdout)
    assert fixed["metadata_version"] == 2
    # the bag is complete and verified; no chunk was rewritten
    bagit.Bag(str(bag)).validate()
    after = _payload_hashes(bag)
    assert {k: v for k, v in after.items() if "/c/" in k} == chunks
    data = bag / "data"
    old = json.loads((data / "metadata/versions/v1/record.json").read_text(encoding="utf-8"))
    assert old["fields"]["pixels.physical_size_x"]["value"] == 0.108
    ome_xml = (data / f"{dataset}.ome.zarr/OME/METADATA.ome.xml").read_text(encoding="utf-8")
    assert 'PhysicalSizeX="0.11"' in ome_xml and "urn:fairway:curation" in ome_xml
    assert 'PhysicalSizeX="0.108"' in (data / "metadata/versions/v1/METADATA.ome.xml").read_text(
        encoding="utf-8"
    )
    image = json.loads((data / f"{dataset}.ome.zarr/zarr.json").read_text(encoding="utf-8"))
    levels = image["attributes"]["ome"]["multiscales"][0]["datasets"]
    scales = [ds["coordinateTransformations"][0]["scale"][-1] for ds in levels]
    assert scales[0] == pytest.approx(0.11) and scales[1] == pytest.approx(0.22)
    crate = json.loads((data / "ro-crate-metadata.json").read_text(encoding="utf-8"))
    ids = {e["@id"] for e in crate["@graph"]}
    assert "metadata/versions.json" in ids
    # the new version validates as itself: no metadata-loss or scale mismatch findings
    show = runner.invoke(app, ["--home", str(home), "show", dataset, "--json"])
    view = json.loads(show.stdout)
    assert [v["version"] for v in view["metadata_versions"]] == [1, 2]
    assert not [
        f for f in view["validation"]["findings"] if f["check"] in {"metadata-loss", "ngff"}
    ] and not [f for f in view["validation"]["findings"] if f["check"] == "consistency"]
    first = runner.invoke(
        app, ["--home", str(home), "show", dataset, "--metadata-version", "1", "--json"]
    )
    assert json.loads(first.stdout)["record"]["fields"]["pixels.physical_size_x"]["value"] == 0.108
    verify = runner.invoke(app, ["--home", str(home), "verify", dataset, "--json"])
    assert verify.exit_code == 0, verify.output
    # a second fix: version 3, version 2 kept
    again = runner.invoke(
        app,
        ["--home", str(home), "fix", dataset, "--set", "study.license=CC0-1.0", "--reason", "r"],
    )
    assert again.exit_code == 0, again.output
    assert (data / "metadata/versions/v2/record.json").is_file()
    bagit.Bag(str(bag)).validate()
    missing = runner.invoke(app, ["--home", str(home), "show", dataset, "--metadata-version", "9"])
    assert missing.exit_code == 2 and "no metadata version 9" in missing.output


def test_an_interrupted_version_commit_is_finished_or_dropped(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash after the journal is written completes on recovery; before it, nothing changes."""
    import os

    from targets import versions

    dataset = _dataset(home, "b.tif")
    bag = load_settings(home).archive_root / dataset
    replace = os.replace
    calls = {"n": 0}

    def crash_after_two(src: object, dst: object) -> None:
        calls["n"] += 1
        if calls["n"] > 2:
            raise PowerCutError("power cut")
        replace(src, dst)

    monkeypatch.setattr(versions.os, "replace", crash_after_two)
    with pytest.raises(PowerCutError):
        runner.invoke(
            app,
            [
                "--home",
                str(home),
                "fix",
                dataset,
                "--set",
                "study.license=CC0-1.0",
                "--reason",
                "r",
            ],
            catch_exceptions=False,
        )
    monkeypatch.setattr(versions.os, "replace", replace)
    assert (bag / versions.UPDATE_DIR / versions.JOURNAL).is_file()
    assert versions.recover(bag) is True
    bagit.Bag(str(bag)).validate()
    assert versions.read_version(bag).value("study.license") == "CC0-1.0"
    # a prepared but uncommitted update (no journal) is dropped
    (bag / versions.UPDATE_DIR / "payload").mkdir(parents=True)
    assert versions.recover(bag) is False
    assert not (bag / versions.UPDATE_DIR).exists()
    bagit.Bag(str(bag)).validate()


def test_misspelled_field_paths_are_refused_with_the_nearest_names(
    home: Path, tmp_path: Path
) -> None:
    b = _dataset(home, "b.tif")
    base = ["--home", str(home), "fix", b, "--reason", "typo"]
    for path, nearest in (
        ("study.licence", "study.license"),
        ("study.titel", "study.title"),
        ("study.authors[0].orcd", "study.authors[0].orcid"),
        ("pixels.physical_sise_x", "pixels.physical_size_x"),
        ("studdy.title", "study"),
    ):
        result = runner.invoke(app, [*base, "--set", f"{path}=CC-BY-4.0"])
        assert result.exit_code == 2, (path, result.output)
        assert "not a field of the metadata schema" in result.output
        assert f"did you mean {nearest}" in result.output, result.output
    # a list index on a value, a group set as a value: refused too
    for path in ("study.title[0]", "study"):
        result = runner.invoke(app, [*base, "--set", f"{path}=x"])
        assert result.exit_code == 2 and "not a field of the metadata schema" in result.output
    # bulk CSV and YAML: one wrong header refuses the whole file, nothing is changed
    a = _dataset(home, "a.ome.tif")
    table = tmp_path / "fixes.csv"
    table.write_text(f"dataset,study.license,study.titel\n{a},CC0-1.0,A long enough title\n")
    doc = tmp_path / "fixes.yaml"
    doc.write_text(f"{a}:\n  study.license: CC0-1.0\n{b}:\n  study.licence: CC0-1.0\n")
    for source in (table, doc):
        result = runner.invoke(
            app, ["--home", str(home), "fix", "--from", str(source), "--reason", "bulk"]
        )
        assert result.exit_code == 2, result.output
        assert "did you mean study." in result.output and "nothing was changed" in result.output
    catalog = Catalog.open(load_settings(home).catalog_url)
    try:
        for d in (a, b):
            row = catalog.find(d)
            assert row is not None
            assert not [e for e in catalog.events(row.id) if e.step == "curate"]
    finally:
        catalog.close()
    # a unit beside a quantity, and a field the record already holds, stay fixable
    ok = runner.invoke(
        app,
        [*base, "--set", "pixels.physical_size_x=0.2", "--set", "pixels.physical_size_x_unit=µm"],
    )
    assert ok.exit_code == 0, ok.output


def test_accepted_suggestions_keep_the_units_of_quantities(corpus: Path, tmp_path: Path) -> None:
    """The CZI's OME says ExposureTime="100.0" ExposureTimeUnit="ms": never "100 s"."""
    import shutil

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    shutil.copy(corpus / "czi" / "CD_s_1_t_3_c_2_z_5.czi", inbox)
    age(inbox)
    home = tmp_path / "home"
    ingested = runner.invoke(app, ["--home", str(home), "ingest", str(inbox), "--json"])
    assert ingested.exit_code == 0, ingested.output
    [outcome] = json.loads(ingested.stdout)["outcomes"]
    assert outcome["outcome"] == "archived", outcome
    dataset = outcome["dataset"]
    shown = json.loads(runner.invoke(app, ["--home", str(home), "show", dataset, "--json"]).stdout)
    fields = shown["record"]["fields"]
    # every extracted quantity carries its unit
    assert fields["planes[0].exposure_time"]["value"] == 100.0
    assert fields["planes[0].exposure_time_unit"]["value"] == "ms"
    for key in fields:
        if key.endswith(("exposure_time", "delta_t", "excitation_wavelength")):
            assert f"{key}_unit" in fields, key
    result = runner.invoke(
        app,
        ["--home", str(home), "fix", dataset, "--accept-suggestions", "--reason", "r", "--json"],
    )
    assert result.exit_code == 0, result.output
    [fixed] = json.loads(result.stdout)
    changes = {c["path"]: c["new"] for c in fixed["changes"]}
    drafted = str(changes["acquisition.image_acquisition_parameters"])
    assert "exposure 100 ms" in drafted or "exposure 0.1 s" in drafted, drafted
    assert "100 s" not in drafted


def test_show_of_an_old_version_shows_that_versions_findings(home: Path) -> None:
    b = _dataset(home, "b.tif")
    base = ["--home", str(home), "show", b, "--json"]
    before = json.loads(runner.invoke(app, base).stdout)["validation"]
    sets = [
        "study.title=A title that is long enough for the schema",
        "study.license=CC-BY-4.0",
        "pixels.physical_size_x=0.2",
    ]
    fixed = runner.invoke(
        app,
        ["--home", str(home), "fix", b, "--reason", "r", *(f"--set={a}" for a in sets)],
    )
    assert fixed.exit_code == 0, fixed.output
    now = json.loads(runner.invoke(app, base).stdout)["validation"]
    assert now["counts"] != before["counts"]
    old = json.loads(runner.invoke(app, [*base, "--metadata-version", "1"]).stdout)
    assert old["validation"]["counts"] == before["counts"]
    assert old["validation"]["findings"] == before["findings"]
    assert old["validation"]["fair_level"] == before["fair_level"]
    current = json.loads(runner.invoke(app, [*base, "--metadata-version", "2"]).stdout)
    assert current["validation"]["counts"] == now["counts"]
    text = runner.invoke(app, ["--home", str(home), "show", b, "--metadata-version", "1"])
    assert f"findings: {before['counts']}" in text.output
