"""Payload names that BagIt manifests must encode: a space, a ``%`` and a newline.

BagIt writes a newline in a file name as ``%0A`` (and a carriage return as ``%0D``); every
manifest fairway reads or writes goes through the ``bagit`` library, so such a file survives
archiving, a new metadata version, verification, repair and a copy to a second folder.
"""

from __future__ import annotations

from pathlib import Path

import bagit
import pytest

from converters import write_ome_zarr
from core.omeutil import parse_ome
from core.records import MetadataRecord, ValidationReport
from core.settings import load_settings
from core.tiffio import open_tiff
from flows.views import dataset_files
from metadata.tiff import describe_tiff
from targets import LocalArchive
from targets.bundle import copy_verified
from targets.copies import BagCopy, FolderStore
from targets.versions import list_versions, write_version
from tests.factories import make_ome_tiff

ODD = "notes/odd name 100%\nsecond line.txt"
DATASET = "fw-odd"


@pytest.fixture
def bag(tmp_path: Path) -> Path:
    """A committed bag whose payload holds :data:`ODD` beside a real OME-Zarr."""
    settings = load_settings(tmp_path / "home", chunk_yx=32, shard_yx=64)
    src = make_ome_tiff(tmp_path / "cells.ome.tif")
    with open_tiff(src, max_xml_bytes=10**7, max_input_bytes=10**10) as tif:
        desc = describe_tiff(tif, src)
    payload = tmp_path / "payload"
    zarr = payload / f"{DATASET}.ome.zarr"
    write_ome_zarr(src, "tiff", parse_ome(desc.ome_xml)[0], desc.ome_xml, zarr, settings)
    record = MetadataRecord(fields={}, ome_xml=desc.ome_xml, ome_xml_origin="source")
    (payload / "metadata").mkdir()
    (payload / "metadata" / "record.json").write_text(record.model_dump_json(), "utf-8")
    (payload / ODD).parent.mkdir(parents=True)
    (payload / ODD).write_bytes(b"a note with an awkward name\n")
    archive = LocalArchive(tmp_path / "archive")
    archive.publish(DATASET, payload, {"External-Identifier": DATASET})
    return tmp_path / "archive" / DATASET


def _record(bag: Path) -> MetadataRecord:
    return MetadataRecord.model_validate_json(
        (bag / "data" / "metadata" / "record.json").read_text("utf-8")
    )


def test_the_manifest_encodes_the_newline(bag: Path) -> None:
    text = (bag / "manifest-sha256.txt").read_text("utf-8")
    assert "data/notes/odd name 100%%0Asecond line.txt\n" in text
    assert f"data/{ODD}" in bagit.Bag(str(bag)).payload_entries()


def test_fix_verify_repair_and_copy(bag: Path, tmp_path: Path) -> None:
    archive = LocalArchive(bag.parent)
    assert archive.verify(DATASET) == []
    # a new metadata version rewrites the manifests: the odd name is still listed, encoded
    write_version(
        bag,
        _record(bag),
        ValidationReport(dataset=DATASET),
        changed=["study.title"],
        actor="curator",
        reason="test",
        tool_version="test",
    )
    assert [v.version for v in list_versions(bag)] == [1, 2]
    assert archive.verify(DATASET) == []
    bagit.Bag(str(bag)).validate()  # the library's own full check, Payload-Oxum included
    entries = bagit.Bag(str(bag)).payload_entries()
    assert f"data/{ODD}" in entries
    assert f"data/{ODD}".replace("\n", "%0A") not in entries
    # a second copy in a folder: written, read back, committed, audited
    nas = BagCopy("nas", FolderStore(tmp_path / "nas"))
    nas.sync(DATASET, bag)
    assert nas.exists(DATASET)
    assert nas.verify(DATASET) == []
    # damage the odd file in the copy: found by name, repaired from the primary
    (tmp_path / "nas" / DATASET / "data" / ODD).write_bytes(b"changed\n")
    found = nas.verify(DATASET)
    assert len(found) == 1 and ODD in found[0].message
    nas.sync(DATASET, bag)
    assert nas.verify(DATASET) == []
    # damage it in the primary: restored from the copy
    (bag / "data" / ODD).write_bytes(b"changed\n")
    assert [f.path for f in archive.verify(DATASET)] == [f"data/{ODD}"]
    archive.restore(DATASET, nas.fetch(DATASET, tmp_path / "fetched" / DATASET))
    assert archive.verify(DATASET) == []
    # what researchers and the web app read from the manifest
    out = copy_verified(bag, tmp_path / "bundle")
    assert (tmp_path / "bundle" / ODD).read_bytes() == b"a note with an awkward name\n"
    assert ODD in out
    listed = {f["path"]: f["size"] for f in dataset_files(str(bag))}
    assert listed[f"data/{ODD}"] == len(b"a note with an awkward name\n")
