"""OMERO: the pure mapping from a dataset to OMERO objects, and the transport when a server is set.

omero-py cannot be installed on these machines (zeroc-ice 3.6 has no wheel for Python 3.11):
the transport test runs only when FAIRWAY_OMERO_HOST points at a server.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from core.records import MetadataRecord, Sourced, ValidationReport
from targets.omero import (
    GAP_REPORT_NAMESPACE,
    ID_KEY,
    NAMESPACE,
    ServerState,
    map_annotations,
    plan_publication,
)


def _record(**fields: object) -> MetadataRecord:
    base = {
        "study.title": "Focal adhesions in migrating HeLa cells",
        "study_component.name": "Paxillin-EGFP Z-stacks",
        "image.name": "hela_paxillin_001",
        "pixels.physical_size_x": 0.108,
        "study.keywords": ["focal adhesion", "HeLa"],
        "source.files[0].name": "/data/patient-named-folder/x.tif",
        **fields,
    }
    return MetadataRecord(
        fields={k: Sourced(value=v, source="test") for k, v in base.items()},
        ome_xml="",
        ome_xml_origin="generated",
    )


REPORT = ValidationReport(dataset="fw-1", fair_level="rembi", target="rembi+nbo-tier1")
ZARR = Path("/archive/fw-1/data/fw-1.ome.zarr")


def test_a_new_server_gets_project_dataset_image_and_annotations() -> None:
    actions = plan_publication("fw-1", _record(), REPORT, ZARR, ServerState())
    kinds = [a.kind for a in actions]
    assert kinds == [
        "create_project",
        "create_dataset",
        "link_dataset",
        "import_image",
        "annotate_map",
        "attach_file",
    ]
    project, dataset, _, image, annotation, report = actions
    assert project.name == "Focal adhesions in migrating HeLa cells"
    assert (dataset.name, dataset.project) == ("Paxillin-EGFP Z-stacks", project.name)
    assert (image.path, image.transfer, image.name) == (str(ZARR), "ln_s", "hela_paxillin_001")
    assert annotation.namespace == NAMESPACE and annotation.pairs[0] == (ID_KEY, "fw-1")
    pairs = dict(annotation.pairs)
    assert pairs["pixels.physical_size_x"] == "0.108"
    assert pairs["study.keywords"] == "focal adhesion, HeLa"
    assert pairs["fairway.fair_level"] == "rembi" and pairs["fairway.target"] == "rembi+nbo-tier1"
    assert not [k for k in pairs if k.startswith("source.")]  # file names stay home
    assert report.namespace == GAP_REPORT_NAMESPACE and "FAIR level `rembi`" in report.content


def test_existing_objects_are_reused_and_a_rerun_does_nothing() -> None:
    record = _record()
    state = ServerState(projects={"Focal adhesions in migrating HeLa cells"})
    kinds = [a.kind for a in plan_publication("fw-1", record, REPORT, ZARR, state)]
    assert kinds[:2] == ["create_dataset", "link_dataset"]
    state.datasets.add(("Focal adhesions in migrating HeLa cells", "Paxillin-EGFP Z-stacks"))
    kinds = [a.kind for a in plan_publication("fw-1", record, REPORT, ZARR, state)]
    assert kinds == ["import_image", "annotate_map", "attach_file"]
    state.fairway_ids.add("fw-1")
    assert plan_publication("fw-1", record, REPORT, ZARR, state) == []


def test_upload_when_the_server_cannot_see_the_archive_and_long_values_are_cut() -> None:
    record = _record(**{"study.description": "x" * 5000})
    [*_, image, annotation, _report] = plan_publication(
        "fw-1", record, REPORT, ZARR, ServerState(), in_place=False
    )
    assert image.transfer == "upload"
    assert len(dict(annotation.pairs)["study.description"]) == 1000
    assert map_annotations("fw-1", _record(), REPORT)[0] == (ID_KEY, "fw-1")


@pytest.mark.skipif(
    not os.environ.get("FAIRWAY_OMERO_HOST"),
    reason="no OMERO server: set FAIRWAY_OMERO_HOST, _USER, _PASSWORD to run the transport test",
)
def test_transport_publishes_once(tmp_path: Path) -> None:  # pragma: no cover - needs a server
    from converters import write_ome_zarr
    from core.omeutil import parse_ome
    from core.settings import load_settings
    from core.tiffio import open_tiff
    from metadata.tiff import describe_tiff
    from targets.omero import OmeroTransport
    from tests.factories import make_ome_tiff

    settings = load_settings(tmp_path / "home")
    src = make_ome_tiff(tmp_path / "o.ome.tif")
    with open_tiff(src, max_xml_bytes=10**7, max_input_bytes=10**10) as tif:
        desc = describe_tiff(tif, src)
    store = tmp_path / "fw-omero-test.ome.zarr"
    write_ome_zarr(src, "tiff", parse_ome(desc.ome_xml)[0], desc.ome_xml, store, settings)
    dataset = f"fw-omero-{tmp_path.name[-12:]}"
    transport = OmeroTransport(settings)
    try:
        actions = plan_publication(
            dataset, _record(), REPORT, store, transport.state(), in_place=False
        )
        transport.apply(actions)
        assert plan_publication(dataset, _record(), REPORT, store, transport.state()) == []
    finally:
        transport.close()
