"""The real flow, end to end, on generated data and on corpus files, with the invariants:
sources unchanged, no partial output visible, one terminal state and one archived object per
acquisition, no duplicate dataset on re-delivery."""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import bagit
import numpy as np
import pytest
import tifffile
import zarr
from ome_zarr.io import parse_url
from ome_zarr.reader import Reader
from ome_zarr_models.v05 import Image

from catalog import Catalog
from catalog.models import AcquisitionRow
from core.settings import Settings, load_settings
from flows.ingestion import IngestSummary, run_ingest
from ingest.samples import SlowWriter, ome_tiff_bytes, write_registry
from tests.factories import age, make_inbox, tree_snapshot


@dataclass
class Ingested:
    settings: Settings
    inbox: Path
    files: dict[str, Path]
    before: dict[str, tuple[int, int, str]]
    summary: IngestSummary


@pytest.fixture(scope="module")
def ingested(tmp_path_factory: pytest.TempPathFactory) -> Ingested:
    root = tmp_path_factory.mktemp("e2e")
    inbox = root / "inbox"
    files = make_inbox(inbox)
    before = tree_snapshot(inbox)
    settings = load_settings(root / "home", quiet_seconds=1, chunk_yx=64)
    # the facility: its instrument registry, and a profile for the wide-field folder
    write_registry(settings.home)
    settings.profiles_root.mkdir(parents=True)
    (settings.profiles_root / "widefield.yaml").write_text(
        f"name: widefield-core\ntarget: ngff\nfolders: ['{inbox.resolve()}/wf']\n"
        "defaults:\n  study.license: CC-BY-4.0\n",
        encoding="utf-8",
    )
    summary = run_ingest([inbox], settings)
    return Ingested(settings, inbox, files, before, summary)


def _rows(settings: Settings) -> list[AcquisitionRow]:
    cat = Catalog.open(settings.catalog_url)
    try:
        return cat.acquisitions()
    finally:
        cat.close()


def _by_source(summary: IngestSummary) -> dict[str, str]:
    return {Path(o.source).name: o.outcome for o in summary.outcomes}


def _visible_archive(settings: Settings) -> list[str]:
    return sorted(p.name for p in settings.archive_root.iterdir() if not p.name.startswith("."))


def test_every_acquisition_reaches_its_terminal_state(ingested: Ingested) -> None:
    assert _by_source(ingested.summary) == {
        "cells.ome.tif": "archived",
        "plain.tif": "archived",
        "stack.tif": "archived",
        "cut.tif": "quarantined",
        "scan.ims": "rejected",
    }
    rows = {Path(r.source).name: r for r in _rows(ingested.settings)}
    assert {n: r.state for n, r in rows.items()} == _by_source(ingested.summary)
    assert "CorruptInputError" in str(rows["cut.tif"].reason)
    assert "cut.tif" in str(rows["cut.tif"].reason)
    assert "UnsupportedFormatError" in str(rows["scan.ims"].reason)
    assert rows["cells.ome.tif"].fair_level == "rembi+nbo-tier1"
    assert rows["plain.tif"].fair_level == "ngff"


def test_profiles_are_chosen_per_folder_and_bring_defaults(ingested: Ingested) -> None:
    """The wide-field folder's profile asks for NGFF only; the rest get the default profile."""
    rows = {Path(r.source).name: r for r in _rows(ingested.settings)}
    plain, cells = rows["plain.tif"], rows["cells.ome.tif"]
    assert plain.report is not None and cells.report is not None
    assert (plain.report["profile"], plain.report["target"]) == ("widefield-core", "ngff")
    assert (cells.report["profile"], cells.report["target"]) == (
        "rembi-nbo-tier1",
        "rembi+nbo-tier1",
    )
    assert plain.record is not None
    assert plain.record["fields"]["study.license"] == {
        "value": "CC-BY-4.0",
        "source": "profile:widefield-core",
    }
    # below tier 1, but at its profile's level: gaps beyond the target are information only
    assert {f["severity"] for f in plain.report["findings"] if f["check"].startswith("schema")} == {
        "info"
    }
    assert cells.record is not None
    hardware = cells.record["fields"]["stage.encoded"]
    assert hardware["source"] == "registry:spinning-disk-room-2"


def test_sources_are_untouched(ingested: Ingested) -> None:
    assert tree_snapshot(ingested.inbox) == ingested.before


def test_no_partial_output_and_one_bag_per_dataset(ingested: Ingested) -> None:
    s = ingested.settings
    archived = [r for r in _rows(s) if r.state == "archived"]
    assert _visible_archive(s) == sorted(r.dataset for r in archived)
    assert list((s.archive_root / ".staging").iterdir()) == []
    assert not s.staging_root.exists() or list(s.staging_root.iterdir()) == []
    for r in archived:
        bagit.Bag(r.location).validate()


def test_archived_ome_zarr_is_valid_and_has_the_source_pixels(ingested: Ingested) -> None:
    row = next(r for r in _rows(ingested.settings) if r.source.endswith("cells.ome.tif"))
    store = Path(row.location) / "data" / f"{row.dataset}.ome.zarr"
    Image.from_zarr(zarr.open_group(str(store), mode="r"))  # one image: a plain NGFF image
    [node, *_] = list(Reader(parse_url(str(store)))())
    level0 = np.asarray(node.data[0])
    source = tifffile.imread(ingested.files["ome"])
    assert np.array_equal(level0[0], source.reshape(level0.shape[1:]))
    assert (store / "OME" / "METADATA.ome.xml").is_file()
    # the segmentation delivered beside it is the image's NGFF label
    nuclei = zarr.open_group(str(store / "labels" / "nuclei"), mode="r")
    assert np.array_equal(nuclei["0"][0, 0], tifffile.imread(ingested.files["labels"]))


def test_redelivery_and_copies_create_no_second_dataset(ingested: Ingested, tmp_path: Path) -> None:
    s = ingested.settings
    before = _visible_archive(s)
    again = run_ingest([ingested.inbox], s)
    assert set(_by_source(again).values()) == {"duplicate"}
    copy = tmp_path / "renamed-inbox"
    shutil.copytree(ingested.inbox, copy)
    for p in copy.rglob("*.tif"):
        p.rename(p.with_name("copy_of_" + p.name))
    age(copy)
    third = run_ingest([copy], s)
    assert set(_by_source(third).values()) == {"duplicate"}
    assert _visible_archive(s) == before
    assert len(_rows(s)) == 5


def test_file_being_written_is_not_picked_up(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    settings = load_settings(tmp_path / "home", quiet_seconds=1.0, chunk_yx=64)
    writer = SlowWriter(inbox / "live.ome.tif", ome_tiff_bytes(z=2, y=64, x=64), pause=0.1).start()
    try:
        time.sleep(1.5)
        first = run_ingest([inbox], settings)
    finally:
        writer.finish()
    assert _by_source(first) == {"live.ome.tif": "pending"}
    assert _rows(settings) == []
    age(inbox)
    second = run_ingest([inbox], settings)
    assert _by_source(second) == {"live.ome.tif": "archived"}


CORPUS_FILES = [
    "ome-tiff/multi-channel-z-series.ome.tif",
    "ome-tiff/time-series.ome.tif",
    "imagej-tiff/blobs.tif",
    "plain-tiff/shapes_lzw_tiled.tif",
    "other-vendor/toxo.dv",
    "nd2/example-zstack.nd2",
    "pyramidal-tiff/openslide_small.svs",
    "czi/s_1_t_1_c_1_z_1.czi",
    "lif/LeicaLASX_wavelength-sweep_example.lif",
]


def test_corpus_files_end_to_end(corpus: Path, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for name in CORPUS_FILES:
        shutil.copy(corpus / name, inbox / Path(name).name)
    malformed = sorted(p for p in (corpus / "malformed" / "tiff").glob("*") if p.is_file())[:3]
    for p in malformed:
        shutil.copy(p, inbox / f"malformed_{p.name}")
    shutil.copytree(corpus / "ome-tiff-multifile" / "companion", inbox / "multifile")
    age(inbox)
    before = tree_snapshot(inbox)
    settings = load_settings(tmp_path / "home", quiet_seconds=1, chunk_yx=128)
    summary = run_ingest([inbox], settings)
    outcomes = _by_source(summary)
    assert summary.internal_errors == 0, [
        o.reason for o in summary.outcomes if o.outcome == "failed"
    ]
    for name in CORPUS_FILES:
        if not name.endswith(".svs"):
            assert outcomes[Path(name).name] == "archived", name
    assert outcomes["multifile.companion.ome"] == "archived"  # six files, one dataset
    assert not any(name.startswith("multifile-Z") for name in outcomes)
    assert outcomes["openslide_small.svs"] == "rejected"
    for o in summary.outcomes:
        assert o.outcome in {"archived", "quarantined", "rejected"}, o
        if o.outcome != "archived":
            assert o.reason and Path(o.source).name in o.reason
    assert tree_snapshot(inbox) == before
    assert os.listdir(settings.archive_root / ".staging") == []


def test_an_internal_error_quarantines_one_and_the_rest_still_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import flows.steps

    inbox = tmp_path / "inbox"
    make_inbox(inbox)
    real = flows.steps.validate

    def flaky(dataset: str, record: object, store: Path) -> object:
        if "stack" in str(record.value("source.files[0].name")):
            raise RuntimeError("validator bug")
        return real(dataset, record, store)

    monkeypatch.setattr(flows.steps, "validate", flaky)
    settings = load_settings(tmp_path / "home", quiet_seconds=1, chunk_yx=64)
    summary = run_ingest([inbox], settings)
    outcomes = _by_source(summary)
    assert outcomes["stack.tif"] == "failed"
    assert outcomes["cells.ome.tif"] == "archived" and outcomes["plain.tif"] == "archived"
    assert summary.internal_errors == 1
    row = next(r for r in _rows(settings) if r.source.endswith("stack.tif"))
    assert row.state == "quarantined" and "validator bug" in str(row.reason)
    assert list(settings.staging_root.iterdir()) == []
