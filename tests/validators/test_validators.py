from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from converters import write_ome_zarr
from core.records import Finding, MetadataRecord, Severity, Sourced
from core.settings import Settings, load_settings
from core.tiffio import open_tiff
from ingest.samples import write_registry
from metadata import extract
from metadata.tiff import describe_tiff
from schemas import available, bundled, load, registry
from tests.factories import SIDECAR_YAML, acquisition_of, make_ome_tiff, make_plain_tiff
from validators import check_ngff, check_record, fair_level, validate


def _record(
    tmp_path: Path, src: Path, sidecar: str | None, settings: Settings | None = None
) -> MetadataRecord:
    """The record ``extract`` makes; with ``settings``, the sample registry is in its home."""
    if settings is None:
        settings = load_settings(tmp_path / "home")
    else:
        write_registry(settings.home)
    sidecars: tuple[Path, ...] = ()
    if sidecar:
        p = src.parent / "fairway.yaml"
        p.write_text(sidecar)
        sidecars = (p,)
    return extract(acquisition_of(src, sidecars=sidecars), settings)


def test_schemas_are_2020_12_with_ids() -> None:
    assert {"record", "rembi/study", "nbo/channels", "mifa/annotations"} <= set(available())
    for name in available():
        doc = load(name)
        assert doc["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert doc["$id"].startswith("urn:fairway:schema:")


def test_module_files_form_one_schema_set() -> None:
    """The root references every module by $id; jsonschema resolves them as the files are."""
    root = load("record")
    validator = Draft202012Validator(root, registry=registry())
    for name in available():
        Draft202012Validator.check_schema(load(name))
    missing = {e.message for e in validator.iter_errors({})}
    assert "'study' is a required property" in missing
    # the inlined form the gap report walks finds the same top-level gaps
    assert {e.message for e in Draft202012Validator(bundled()).iter_errors({})} == missing


def test_schema_files_are_current() -> None:
    from schemas.build import main

    assert main(["--check"]) == 0


def test_complete_record_has_no_tier1_gaps(tmp_path: Path, settings: Settings) -> None:
    """Sidecar (study, specimen, annotations) + registry (hardware) + OME: tier 1 met."""
    rec = _record(tmp_path, make_ome_tiff(tmp_path / "a.ome.tif"), SIDECAR_YAML, settings)
    findings = check_record(rec)
    assert [f for f in findings if f.severity is not Severity.INFO] == []
    assert fair_level(findings) == "rembi+nbo-tier1"
    # tier 2 is reported as information (beyond the default profile), not hidden
    tier2 = {f.path for f in findings if f.blocks == "rembi+nbo-tier2"}
    assert "objective_settings.refractive_index" not in tier2  # the OME-XML has it
    assert {"detectors[0].quantum_efficiency", "calibration.last_calibration_date"} <= tier2
    assert rec.fields["objective.infinity_corrected"].source == "registry:spinning-disk-room-2"
    # a tier 2 profile turns those into warnings
    strict = check_record(rec, target="rembi+nbo-tier2")
    assert {f.path for f in strict if f.severity is Severity.WARNING} >= tier2


def test_bare_tiff_gaps_name_module_level_and_fix(tmp_path: Path) -> None:
    rec = _record(tmp_path, make_plain_tiff(tmp_path / "p.tif"), None)
    findings = check_record(rec)
    by_path = {f.path: f for f in findings}
    title = by_path["study.title"]
    assert (title.module, title.level, title.severity) == ("Study", "required", Severity.ERROR)
    assert "sidecar" in title.fix_hint
    assert by_path["pixels.physical_size_x"].level == "required"
    assert by_path["objective.lens_na"].level == "tier1"
    assert by_path["objective.lens_na"].severity is Severity.WARNING
    assert fair_level(findings) == "ngff"


def test_conditional_z_step_and_value_checks(tmp_path: Path) -> None:
    rec = _record(tmp_path, make_ome_tiff(tmp_path / "a.ome.tif"), SIDECAR_YAML)
    fields = dict(rec.fields)
    del fields["pixels.physical_size_z"]
    fields["objective.lens_na"] = Sourced(value=7.0, source="test")
    fields["biosample.organism[0].ncbi_taxon"] = Sourced(value="human", source="test")
    findings = check_record(rec.model_copy(update={"fields": fields}))
    paths = {f.path: f for f in findings}
    assert paths["pixels.physical_size_z"].level == "conditional"
    assert (
        "maximum" in paths["objective.lens_na"].message
        or "1.7" in paths["objective.lens_na"].message
    )
    assert (
        "pattern" in paths["biosample.organism[0].ncbi_taxon"].message
        or "NCBITaxon" in paths["biosample.organism[0].ncbi_taxon"].message
    )


def test_ngff_check_of_written_store(tmp_path: Path, settings: Settings) -> None:
    src = make_ome_tiff(tmp_path / "a.ome.tif")
    with open_tiff(src, max_xml_bytes=10**7, max_input_bytes=10**10) as tif:
        d = describe_tiff(tif, src)
    store = tmp_path / "a.ome.zarr"
    write_ome_zarr(src, "tiff", d.ome, d.ome_xml, store, settings)
    assert [f for f in check_ngff(store) if f.severity is Severity.ERROR] == []
    rec = _record(tmp_path, src, SIDECAR_YAML, settings)
    report = validate("fw-test", rec, store)
    assert report.ngff_valid and report.fair_level == "rembi+nbo-tier1"
    # break the multiscales metadata: findings, not exceptions
    meta = store / "zarr.json"  # one image: the store is the image
    doc = json.loads(meta.read_text())
    del doc["attributes"]["ome"]["multiscales"]
    meta.write_text(json.dumps(doc))
    broken = check_ngff(store)
    assert broken and all(isinstance(f, Finding) for f in broken)
    assert fair_level(broken) == "none"


def test_ngff_check_of_missing_store(tmp_path: Path) -> None:
    [f] = check_ngff(tmp_path / "nothing.ome.zarr")
    assert f.severity is Severity.ERROR


@pytest.mark.parametrize("name", ["ozx_invalid_image-01.zarr", "ozx_invalid_image-04.zarr"])
def test_invalid_corpus_stores_give_findings(corpus: Path, name: str) -> None:
    assert check_ngff(corpus / "ome-zarr" / name)


def test_gap_report_as_markdown() -> None:
    from core.records import ValidationReport
    from validators.report import report_markdown

    report = ValidationReport(
        dataset="fw-x",
        fair_level="ngff",
        findings=(
            Finding(
                path="study.title",
                module="study",
                level="required",
                severity=Severity.ERROR,
                message="missing | with a pipe",
                fix_hint="curator: supply it",
                check="schema:rembi",
            ),
            Finding(
                path="objective.lens_na",
                module="instrument",
                level="tier1",
                severity=Severity.WARNING,
                message="missing",
                check="schema:rembi",
            ),
        ),
    )
    text = report_markdown(report)
    assert text.startswith("# fw-x: FAIR level `ngff`")
    rows = [
        line
        for line in text.splitlines()
        if line.startswith("| error") or line.startswith("| warning")
    ]
    assert rows[0].startswith(
        "| error | required | study | `study.title` | missing \\| with a pipe"
    )
    assert rows[1].startswith("| warning | tier1 | instrument | `objective.lens_na`")
