from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from core.errors import (
    CorruptInputError,
    EmptyInputError,
    InputTooLargeError,
    UnsafeInputError,
    UnsupportedFormatError,
)
from core.settings import Settings
from ingest.samples import blobs
from metadata import extract
from metadata.sidecar import read_sidecar
from tests.factories import SIDECAR_YAML, make_imagej, make_ome_tiff, make_plain_tiff
from tests.factories import acquisition_of as _acq


def test_ome_tiff_values_keep_their_source(tmp_path: Path, settings: Settings) -> None:
    rec = extract(_acq(make_ome_tiff(tmp_path / "c.ome.tif")), settings)
    assert rec.ome_xml_origin == "source"
    assert rec.fields["pixels.physical_size_x"].value == pytest.approx(0.108)
    assert rec.fields["pixels.physical_size_x"].source == "ome-xml:Image[0]/Pixels@PhysicalSizeX"
    assert rec.value("objective.lens_na") == 1.4
    assert rec.value("instrument.microscope.model") == "Eclipse Ti2-E"
    assert rec.value("channels[1].name") == "mCherry"
    assert rec.value("channels[0].color") == "00FF00"
    assert rec.value("light_sources[0].wavelength") == 488
    assert "tiff.tags" in rec.unmapped  # nothing dropped


def test_imagej_units_and_intervals(tmp_path: Path, settings: Settings) -> None:
    rec = extract(_acq(make_imagej(tmp_path / "s.tif")), settings)
    assert rec.ome_xml_origin == "generated"
    assert (
        rec.value("pixels.size_t") == 2
        and rec.value("pixels.size_z") == 3
        and rec.value("pixels.size_c") == 2
    )
    assert rec.value("pixels.physical_size_x") == pytest.approx(0.25)
    assert rec.value("pixels.physical_size_x_unit") == "µm"
    assert rec.value("pixels.physical_size_z") == pytest.approx(1.5)
    assert rec.value("pixels.time_increment") == pytest.approx(10.0)
    assert rec.fields["pixels.physical_size_z"].source.startswith("tiff:")
    assert "imagej" in rec.unmapped


def test_dpi_is_not_a_pixel_size(tmp_path: Path, settings: Settings) -> None:
    p = tmp_path / "scan.tif"
    tifffile.imwrite(
        p,
        blobs((40, 40), n=2, sigma=3, seed=1),
        resolution=(300, 300),
        resolutionunit="INCH",
        metadata=None,
    )
    rec = extract(_acq(p), settings)
    assert rec.value("pixels.physical_size_x") is None
    assert "dots per inch" in str(rec.unmapped["fairway.notes"]["tiff"])


@pytest.mark.parametrize("dpi", [72, 96, 150, 300, 600, 1200])
def test_dpi_written_per_centimetre_is_not_a_pixel_size(
    tmp_path: Path, settings: Settings, dpi: int
) -> None:
    """A 96-dpi scan saved in pixels per cm is still 96 dpi, not 264.6 µm (issue 13.16)."""
    p = tmp_path / "scan.tif"
    per_cm = dpi / 2.54
    tifffile.imwrite(
        p,
        blobs((40, 40), n=2, sigma=3, seed=1),
        resolution=(per_cm, per_cm),
        resolutionunit="CENTIMETER",
        metadata=None,
    )
    rec = extract(_acq(p), settings)
    assert rec.value("pixels.physical_size_x") is None
    assert f"{dpi} dots per inch" in str(rec.unmapped["fairway.notes"]["tiff"])


def test_a_microscope_resolution_in_centimetres_is_a_pixel_size(
    tmp_path: Path, settings: Settings
) -> None:
    p = tmp_path / "cam.tif"
    tifffile.imwrite(
        p,
        blobs((40, 40), n=2, sigma=3, seed=1),
        resolution=(1 / 0.65e-4, 1 / 0.65e-4),  # 0.65 µm pixels
        resolutionunit="CENTIMETER",
        metadata=None,
    )
    rec = extract(_acq(p), settings)
    assert rec.value("pixels.physical_size_x") == pytest.approx(0.65)


def test_sidecar_fills_what_files_lack_and_conflicts_are_kept(
    tmp_path: Path, settings: Settings
) -> None:
    img = make_ome_tiff(tmp_path / "c.ome.tif")
    side = tmp_path / "fairway.yaml"
    side.write_text(SIDECAR_YAML + "pixels:\n  physical_size_x: 9.9\n")
    rec = extract(_acq(img, sidecars=(side,)), settings)
    assert rec.value("study.license") == "CC-BY-4.0"
    assert rec.fields["study.title"].source == "sidecar:fairway.yaml"
    assert rec.value("pixels.physical_size_x") == pytest.approx(0.108)  # the file wins
    assert "pixels.physical_size_x" in rec.unmapped["fairway.conflicts"]


def test_unsupported_and_corrupt(tmp_path: Path, settings: Settings) -> None:
    ims = tmp_path / "x.ims"
    ims.write_bytes(b"\x89HDF")
    with pytest.raises(UnsupportedFormatError, match="supported today"):
        extract(_acq(ims, kind="unsupported"), settings)
    czi = tmp_path / "x.czi"
    czi.write_bytes(b"ZISRAWFILE" + bytes(200))
    with pytest.raises(CorruptInputError, match=r"x\.czi"):
        extract(_acq(czi, kind="czi"), settings)
    bad = tmp_path / "bad.tif"
    bad.write_bytes(b"II*\x00" + b"\xff" * 50)
    with pytest.raises(CorruptInputError, match=r"bad\.tif"):
        extract(_acq(bad), settings)


XXE = """<?xml version="1.0"?><!DOCTYPE OME [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2016-06"><Image ID="Image:0" Name="&xxe;">
<Pixels ID="Pixels:0" DimensionOrder="XYZCT" Type="uint8"
 SizeX="8" SizeY="8" SizeZ="1" SizeC="1" SizeT="1">
<Channel ID="Channel:0:0" SamplesPerPixel="1"/><TiffData/></Pixels></Image></OME>"""

LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol0 "lol">'
    + "".join(f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10}">' for i in range(1, 10))
    + ']><OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2016-06">&lol9;</OME>'
)


@pytest.mark.parametrize("xml", [XXE, LAUGHS], ids=["xxe", "billion-laughs"])
def test_hostile_ome_xml_is_refused_before_parsing(
    tmp_path: Path, settings: Settings, xml: str
) -> None:
    p = tmp_path / "evil.ome.tif"
    tifffile.imwrite(p, np.zeros((8, 8), np.uint8), description=xml.encode(), metadata=None)
    with pytest.raises(UnsafeInputError, match="DOCTYPE"):
        extract(_acq(p), settings)


def test_declared_size_cap(tmp_path: Path, settings: Settings) -> None:
    p = make_plain_tiff(tmp_path / "x.tif")
    small = settings.model_copy(update={"max_input_bytes": 100})
    with pytest.raises(InputTooLargeError, match="declares"):
        extract(_acq(p), small)


@pytest.mark.parametrize("text", ["a/b: 1\n", "'..': 1\n", "x: {'a\\x00': 1}\n"])
def test_sidecar_keys_cannot_be_paths(tmp_path: Path, text: str) -> None:
    p = tmp_path / "fairway.yaml"
    p.write_text(text)
    with pytest.raises((UnsafeInputError, CorruptInputError)):
        read_sidecar(p, max_bytes=10_000)


def test_sidecar_size_cap(tmp_path: Path) -> None:
    p = tmp_path / "fairway.yaml"
    p.write_text("study:\n  title: " + "x" * 2000 + "\n")
    with pytest.raises(InputTooLargeError):
        read_sidecar(p, max_bytes=1000)


@pytest.mark.parametrize(
    "name",
    [
        "ome-tiff/multi-channel-z-series.ome.tif",
        "ome-tiff/4D-series.ome.tif",
        "imagej-tiff/blobs.tif",
        "imagej-tiff/derived_hyperstack_TZCYX_from_CD_czi.tif",
        "plain-tiff/shapes_lzw_planar.tif",
        "pyramidal-tiff/derived_pyramid_subifds_img2d.ome.tif",
    ],
)
def test_corpus_files(corpus: Path, settings: Settings, name: str) -> None:
    rec = extract(_acq(corpus / name), settings)
    assert rec.value("pixels.size_x") > 0
    assert rec.ome_xml.lstrip().startswith("<")


@pytest.mark.parametrize("spacing", [0.0, -2.0])
def test_zero_or_negative_z_step_is_a_note_not_a_size(
    tmp_path: Path, settings: Settings, spacing: float
) -> None:
    p = tmp_path / "ij.tif"
    tifffile.imwrite(
        p,
        np.zeros((3, 16, 16), np.uint8),
        imagej=True,
        metadata={"axes": "ZYX", "spacing": spacing, "unit": "um"},
    )
    rec = extract(_acq(p), settings)
    assert rec.value("pixels.physical_size_z") is None
    assert "zero or negative" in str(rec.unmapped["fairway.notes"])


def test_imagej_millimetres_are_millimetres(tmp_path: Path, settings: Settings) -> None:
    p = tmp_path / "mm.tif"
    tifffile.imwrite(
        p, np.zeros((16, 16), np.uint8), imagej=True, resolution=(100, 100), metadata={"unit": "mm"}
    )
    rec = extract(_acq(p), settings)
    assert rec.value("pixels.physical_size_x") == pytest.approx(0.01)
    assert rec.value("pixels.physical_size_x_unit") == "mm"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16-le"])
def test_vendor_file_with_entities_is_refused_before_the_plugin(
    tmp_path: Path, settings: Settings, encoding: str
) -> None:
    p = tmp_path / "evil.lif"
    header = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>'
    p.write_bytes(b"\x70\x00\x00\x00" + header.encode(encoding) + bytes(64))
    with pytest.raises(UnsafeInputError, match="DOCTYPE"):
        extract(_acq(p, kind="bioio"), settings)


def test_empty_files_are_refused_as_empty(tmp_path: Path, settings: Settings) -> None:
    """A zero-byte image or sidecar is "empty file", not a reader's guess (issue 13.4)."""
    image = tmp_path / "x.tif"
    image.touch()
    with pytest.raises(EmptyInputError, match="empty file") as err:
        extract(_acq(image), settings)
    assert str(image) in str(err.value)
    side = tmp_path / "fairway.yaml"
    side.touch()
    with pytest.raises(EmptyInputError, match="empty file"):
        read_sidecar(side, max_bytes=1000)


def _declaring(path: Path, tags: dict[str, int]) -> Path:
    """A 16x16 TIFF whose size tags are rewritten in place to declare other values."""
    import io
    import struct

    buf = io.BytesIO()
    tifffile.imwrite(buf, np.zeros((16, 16), np.uint8), metadata=None)
    data = bytearray(buf.getvalue())
    with tifffile.TiffFile(io.BytesIO(bytes(data))) as tif:
        entries = {name: tif.pages.first.tags[name].offset for name in tags}
    for name, value in tags.items():
        struct.pack_into("<HII", data, entries[name] + 2, 4, 1, value)  # LONG, one value
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize(
    "tags",
    [
        {"ImageWidth": 4_000_000_000, "ImageLength": 4_000_000_000},
        {"ImageWidth": 4_000_000_000, "ImageLength": 4_000_000_000, "RowsPerStrip": 4_000_000_000},
    ],
    ids=["strips-mismatch", "one-strip"],
)
def test_a_tiff_declaring_too_many_pixels_is_refused_as_over_size(
    tmp_path: Path, settings: Settings, tags: dict[str, int]
) -> None:
    """4e9 x 4e9 pixels is over the size cap, not a transfer that was cut off (issue 13.16)."""
    p = _declaring(tmp_path / "huge.tif", tags)
    with pytest.raises(InputTooLargeError, match=r"declares .* above the cap") as err:
        extract(_acq(p), settings)
    assert "cut off" not in str(err.value) and "4000000000 x 4000000000" in str(err.value)
