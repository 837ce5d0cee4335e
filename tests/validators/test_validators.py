from __future__ import annotations

import json
from pathlib import Path

import pytest

from converters import write_ome_zarr
from core.records import Finding, MetadataRecord, Severity, Sourced
from core.settings import Settings
from core.tiffio import open_tiff
from metadata.ome_map import ome_fields
from metadata.sidecar import read_sidecar
from metadata.tiff import describe_tiff
from schemas import available, load
from tests.factories import SIDECAR_YAML, make_ome_tiff, make_plain_tiff
from validators import check_ngff, check_record, fair_level, validate


def _record(tmp_path: Path, src: Path, sidecar: str | None) -> MetadataRecord:
    with open_tiff(src, max_xml_bytes=10**7, max_input_bytes=10**10) as tif:
        d = describe_tiff(tif, src)
    fields = ome_fields(d.ome)
    if sidecar:
        p = tmp_path / "fairway.yaml"
        p.write_text(sidecar)
        fields.update(read_sidecar(p, max_bytes=10**6))
    return MetadataRecord(fields=fields, ome_xml=d.ome_xml, ome_xml_origin=d.origin)


def test_schemas_are_2020_12_with_ids() -> None:
    assert "rembi-nbo-tier1" in available()
    for name in available():
        doc = load(name)
        assert doc["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert doc["$id"].startswith("urn:fairway:schema:")


def test_complete_record_has_no_required_gaps(tmp_path: Path) -> None:
    rec = _record(tmp_path, make_ome_tiff(tmp_path / "a.ome.tif"), SIDECAR_YAML)
    findings = check_record(rec)
    assert findings == []
    assert fair_level(findings) == "rembi+nbo-tier1"


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
    rec = _record(tmp_path, src, SIDECAR_YAML)
    report = validate("fw-test", rec, store)
    assert report.ngff_valid and report.fair_level == "rembi+nbo-tier1"
    # break the multiscales metadata: findings, not exceptions
    meta = store / "0" / "zarr.json"
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
