from __future__ import annotations

import json
from pathlib import Path

import pytest

from converters import write_ome_zarr
from core.records import Severity
from core.settings import Settings
from core.tiffio import open_tiff
from metadata.tiff import describe_tiff
from tests.factories import make_imagej, make_ome_tiff
from validators import check_metadata_loss, fair_level


def _convert(src: Path, tmp_path: Path, settings: Settings) -> tuple[str, Path]:
    with open_tiff(src, max_xml_bytes=10**7, max_input_bytes=10**10) as tif:
        d = describe_tiff(tif, src)
    store = tmp_path / "out.ome.zarr"
    write_ome_zarr(src, "tiff", d.ome, d.ome_xml, store, settings)
    return d.ome_xml, store


def _edit(path: Path, fn) -> None:  # type: ignore[no-untyped-def]
    doc = json.loads(path.read_text())
    fn(doc["attributes"]["ome"])
    path.write_text(json.dumps(doc))


@pytest.mark.parametrize("make", [make_ome_tiff, make_imagej], ids=["ome-tiff", "imagej"])
def test_faithful_output_has_no_loss(tmp_path: Path, settings: Settings, make) -> None:  # type: ignore[no-untyped-def]
    xml, store = _convert(make(tmp_path / "in.tif"), tmp_path, settings)
    assert check_metadata_loss(xml, store) == []


def test_every_kind_of_loss_is_a_finding(tmp_path: Path, settings: Settings) -> None:
    xml, store = _convert(make_ome_tiff(tmp_path / "in.ome.tif"), tmp_path, settings)

    def damage(ome: dict) -> None:  # type: ignore[type-arg]
        ms = ome["multiscales"][0]
        ms["axes"][4]["unit"] = "millimeter"
        ms["datasets"][0]["coordinateTransformations"][0]["scale"][3] = 1.0
        ome["omero"]["channels"][1]["label"] = "Channel 1"
        ome["omero"]["channels"][0]["color"] = "FFFFFF"

    _edit(store / "zarr.json", damage)  # one image: the store is the image
    copy = store / "OME" / "METADATA.ome.xml"
    copy.write_text(xml.replace('EmissionWavelength="507', 'EmissionWavelength="520'))
    findings = check_metadata_loss(xml, store)
    paths = {f.path for f in findings}
    assert {
        "multiscales/axes/x/unit",
        "multiscales/scale/y",
        "omero/channels[1].label",
        "omero/channels[0].color",
        "OME/METADATA.ome.xml/Image[0]/Channel[0]@emission_wavelength",
    } <= paths
    assert all(f.severity is Severity.ERROR and f.check == "metadata-loss" for f in findings)
    assert fair_level(findings) == "none"


def test_missing_ome_xml_copy(tmp_path: Path, settings: Settings) -> None:
    xml, store = _convert(make_ome_tiff(tmp_path / "in.ome.tif"), tmp_path, settings)
    (store / "OME" / "METADATA.ome.xml").unlink()
    [f] = check_metadata_loss(xml, store)
    assert "missing" in f.message


@pytest.mark.parametrize(
    "name",
    [
        "ome-tiff/multi-channel-z-series.ome.tif",
        "ome-tiff/4D-series.ome.tif",
        "imagej-tiff/derived_hyperstack_TZCYX_from_CD_czi.tif",
    ],
)
def test_corpus_conversions_lose_nothing(
    corpus: Path, tmp_path: Path, settings: Settings, name: str
) -> None:
    xml, store = _convert(corpus / name, tmp_path, settings)
    assert check_metadata_loss(xml, store) == []
