from __future__ import annotations

from pathlib import Path

import numpy as np
import ome_types
import pytest
import tifffile
import zarr
from ome_zarr.io import parse_url
from ome_zarr.reader import Reader
from ome_zarr_models.v05 import BioFormats2Raw, Image

from converters import write_ome_zarr
from converters.pyramid import downsample_2x, level_count
from core.errors import CorruptInputError
from core.records import ConvertedImage
from core.settings import Settings
from core.tiffio import open_tiff
from metadata.tiff import describe_tiff
from tests.factories import make_imagej, make_ome_tiff, make_plain_tiff


def _convert(src: Path, dest: Path, settings: Settings) -> list[ConvertedImage]:
    with open_tiff(src, max_xml_bytes=10**7, max_input_bytes=10**10) as tif:
        d = describe_tiff(tif, src)
    return write_ome_zarr(src, "tiff", d.ome, d.ome_xml, dest, settings)


def _read_level0(store: Path, image: str = "") -> np.ndarray:
    """Level 0 of an image as ome-zarr-py reads it (``image`` "": the store is the image)."""
    [node, *_] = list(Reader(parse_url(str(store / image) if image else str(store)))())
    return np.asarray(node.data[0])


def test_ome_tiff_round_trip(tmp_path: Path, settings: Settings) -> None:
    src = make_ome_tiff(tmp_path / "in.ome.tif", c=2, z=3, y=150, x=140)
    store = tmp_path / "out.ome.zarr"
    [img] = _convert(src, store, settings)
    assert img.shape == (1, 2, 3, 150, 140)
    # pixels identical to the source, read by ome-zarr-py
    source = tifffile.imread(src).reshape(2, 3, 150, 140)
    assert np.array_equal(_read_level0(store)[0], source)
    # one image: the store is a plain NGFF image (no bioformats2raw layout), valid for
    # ome-zarr-models
    root = zarr.open_group(str(store), mode="r")
    top: dict[str, object] = dict(root.attrs.asdict()["ome"])
    assert "bioformats2raw.layout" not in top and "multiscales" in top
    model = Image.from_zarr(root)
    ms = model.ome_attributes.multiscales[0]
    assert [a.name for a in ms.axes] == ["t", "c", "z", "y", "x"]
    assert {a.name: a.unit for a in ms.axes if a.type == "space"} == {
        "z": "micrometer",
        "y": "micrometer",
        "x": "micrometer",
    }
    scales = [d.coordinateTransformations[0].scale for d in ms.datasets]
    assert len(scales) == level_count((150, 140), 64) == 3
    assert scales[0][2:] == pytest.approx([0.3, 0.108, 0.108])
    assert scales[1][3:] == pytest.approx([0.216, 0.216])
    assert root["1"].shape == (1, 2, 3, 75, 70)
    omero = root.attrs["ome"]["omero"]
    assert [c["label"] for c in omero["channels"]] == ["EGFP", "mCherry"]
    assert [c["color"] for c in omero["channels"]] == ["00FF00", "FF00FF"]
    assert omero["channels"][0]["window"]["end"] == float(source[0].max())
    assert omero["channels"][1]["window"]["start"] == float(source[1].min())
    # the full OME-XML travels with the image, unchanged
    xml = (store / "OME" / "METADATA.ome.xml").read_text()
    with tifffile.TiffFile(src) as tif:
        assert xml == tif.ome_metadata
    assert ome_types.from_xml(xml).images[0].instrument_ref is not None


def test_imagej_hyperstack_axes(tmp_path: Path, settings: Settings) -> None:
    src = make_imagej(tmp_path / "s.tif")
    store = tmp_path / "s.ome.zarr"
    [img] = _convert(src, store, settings)
    data = tifffile.imread(src)  # T Z C Y X
    assert np.array_equal(_read_level0(store), data.transpose(0, 2, 1, 3, 4))
    root = zarr.open_group(str(store), mode="r")
    axes = root.attrs["ome"]["multiscales"][0]["axes"]
    assert axes[0] == {"name": "t", "type": "time", "unit": "second"}
    assert img.scale == pytest.approx((10.0, 1.0, 1.5, 0.25, 0.25))


def test_no_partial_output_on_failure(tmp_path: Path, settings: Settings) -> None:
    good = make_plain_tiff(tmp_path / "good.tif", shape=(300, 300))
    cut = tmp_path / "cut.tif"
    cut.write_bytes(good.read_bytes()[:20_000])
    dest = tmp_path / "out" / "cut.ome.zarr"
    with pytest.raises(CorruptInputError, match=r"cut\.tif"):
        _convert(cut, dest, settings)
    # neither the final name nor a partial (a cut file is now refused before anything is made)
    assert not dest.parent.exists() or list(dest.parent.iterdir()) == []


def test_metadata_that_disagrees_with_pixels_is_not_padded(
    tmp_path: Path, settings: Settings
) -> None:
    src = make_plain_tiff(tmp_path / "p.tif")
    with open_tiff(src, max_xml_bytes=10**7, max_input_bytes=10**10) as tif:
        d = describe_tiff(tif, src)
    d.ome.images[0].pixels.size_z = 5
    with pytest.raises(CorruptInputError, match="declares"):
        write_ome_zarr(src, "tiff", d.ome, d.ome_xml, tmp_path / "o.ome.zarr", settings)
    assert not (tmp_path / "o.ome.zarr").exists()


def test_downsample_keeps_dtype_and_means() -> None:
    import dask.array as da

    a = da.from_array(
        np.array([[[[[0, 2, 4, 6], [2, 4, 6, 8]]]]], dtype=np.uint8), chunks=(1, 1, 1, 2, 2)
    )
    out = downsample_2x(a).compute()
    assert out.dtype == np.uint8
    assert out.tolist() == [[[[[2, 6]]]]]


@pytest.mark.parametrize(
    "name",
    [
        "ome-tiff/multi-channel-z-series.ome.tif",
        "ome-tiff/time-series.ome.tif",
        "imagej-tiff/derived_hyperstack_TZCYX_from_CD_czi.tif",
        "plain-tiff/shapes_lzw_planar.tif",
        "plain-tiff/multipage_rgb.tif",
    ],
)
def test_corpus_conversion_keeps_pixels(
    corpus: Path, tmp_path: Path, settings: Settings, name: str
) -> None:
    src = corpus / name
    store = tmp_path / "c.ome.zarr"
    images = _convert(src, store, settings)
    with tifffile.TiffFile(src) as tif:
        series = tif.series[0]
        source = series.asarray()
        axes = series.axes
    level0 = _read_level0(store)
    assert level0.size == source.size
    assert images[0].shape == level0.shape
    assert np.array_equal(np.sort(level0, axis=None), np.sort(source, axis=None)), axes


@pytest.mark.parametrize(
    ("shape", "chunk", "levels"),
    [
        ((150, 140), 64, 3),
        ((512, 512), 512, 2),
        ((4096, 2048), 512, 4),
        ((40, 4000), 512, 4),
        ((32, 32), 512, 1),
        ((1, 1), 64, 1),
    ],
)
def test_level_count(shape: tuple[int, int], chunk: int, levels: int) -> None:
    assert level_count(shape, chunk) == levels


@pytest.mark.parametrize("tiled", [False, True], ids=["planes", "tiles"])
def test_pyramid_levels_are_2x2_means_in_both_strategies(
    tmp_path: Path, settings: Settings, tiled: bool
) -> None:
    from converters.pyramid import shrink_2x
    from ingest.samples import blobs

    src = tmp_path / "odd.tif"
    data = blobs((3, 150, 139), n=6, sigma=5.0, seed=7)
    tifffile.imwrite(
        src,
        data,
        photometric="minisblack",
        metadata={"axes": "ZYX"},
        tile=(64, 64) if tiled else None,
    )
    store = tmp_path / "odd.ome.zarr"
    [img] = _convert(src, store, settings)
    assert img.levels == 3
    root = zarr.open_group(str(store), mode="r")
    level0 = np.asarray(root["0"][:])
    assert np.array_equal(level0[0, 0], data)
    expected = level0
    for level in (1, 2):
        expected = shrink_2x(expected)
        assert np.array_equal(root[str(level)][:], expected), level
    assert root["2"].shape == (1, 1, 3, 37, 34)


def test_shrink_rounds_and_handles_masks() -> None:
    from converters.pyramid import shrink_2x

    assert shrink_2x(np.array([[1, 2], [2, 2]], dtype=np.uint8)).tolist() == [[2]]
    assert shrink_2x(np.array([[True, True], [False, True]])).tolist() == [[True]]
    assert shrink_2x(np.array([[0.5, 1.5, 9.0], [1.0, 1.0, 9.0]], dtype=np.float32)).tolist() == [
        [1.0]
    ]


@pytest.mark.parametrize(
    "name",
    [
        "nd2/example-multichannel.nd2",
        "nd2/example-zstack.nd2",
        "nd2/example-timelapse.nd2",
        "other-vendor/toxo.dv",
    ],
)
def test_vendor_formats_through_bioio_keep_pixels(
    corpus: Path, tmp_path: Path, settings: Settings, name: str
) -> None:
    import warnings

    from bioio import BioImage

    from core.records import Acquisition, SourceFile
    from metadata import extract
    from validators import check_metadata_loss, check_ngff

    src = corpus / name
    st = src.stat()
    f = SourceFile(path=src, relpath=src.name, size=st.st_size, mtime_ns=st.st_mtime_ns, sha256="0")
    record = extract(
        Acquisition(fingerprint="ab" * 32, source=src, kind="bioio", files=(f,)), settings
    )
    store = tmp_path / "v.ome.zarr"
    write_ome_zarr(
        src, "bioio", ome_types.from_xml(record.ome_xml), record.ome_xml, store, settings
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = np.asarray(BioImage(src).get_image_data("TCZYX"))
    assert np.array_equal(_read_level0(store), reference)
    assert [f for f in check_ngff(store) if f.severity.value == "error"] == []
    assert check_metadata_loss(record.ome_xml, store) == []
    assert record.value("pixels.physical_size_x") is not None
    assert any(ns.startswith("vendor.") for ns in record.unmapped)


@pytest.mark.parametrize("variant", ["master", "companion"])
def test_multifile_ome_tiff_round_trip(
    corpus: Path, tmp_path: Path, settings: Settings, variant: str
) -> None:
    from core.records import Acquisition
    from ingest import fingerprint, scan
    from metadata import extract

    [cand] = scan([corpus / "ome-tiff-multifile" / variant])
    acq: Acquisition = fingerprint(cand)
    record = extract(acq, settings)
    store = tmp_path / "m.ome.zarr"
    [img] = write_ome_zarr(
        acq.primary.path,
        "tiff",
        ome_types.from_xml(record.ome_xml),
        record.ome_xml,
        store,
        settings,
    )
    assert img.shape == (1, 1, 5, 24, 18)
    planes = []
    for z in range(1, 6):
        part = corpus / "ome-tiff-multifile" / "master" / f"multifile-Z{z}.ome.tiff"
        with tifffile.TiffFile(part) as t:
            planes.append(t.pages[0].asarray())
    assert np.array_equal(_read_level0(store)[0, 0], np.stack(planes))


def _isotropic_tiff(path: Path, z_step: float, labels: bool = False) -> Path:
    rng = np.random.default_rng(7)
    data = rng.integers(0, 4000, size=(8, 256, 256), dtype=np.uint16)
    if labels:
        data = (data // 1000).astype(np.uint16)
    tifffile.imwrite(
        path,
        data,
        ome=True,
        metadata={
            "axes": "ZYX",
            "PhysicalSizeX": 0.2,
            "PhysicalSizeY": 0.2,
            "PhysicalSizeZ": z_step,
        },
    )
    return path


def test_near_isotropic_stacks_are_halved_in_z_too(tmp_path: Path, settings: Settings) -> None:
    from converters.pyramid import shrink_2x, shrink_z2
    from validators import check_ngff

    src = _isotropic_tiff(tmp_path / "iso.ome.tif", z_step=0.2)
    store = tmp_path / "iso.ome.zarr"
    [img] = _convert(src, store, settings.model_copy(update={"chunk_yx": 64}))
    root = zarr.open_group(str(store), mode="r")
    shapes = [root[str(k)].shape for k in range(img.levels)]
    assert shapes == [(1, 1, 8, 256, 256), (1, 1, 4, 128, 128), (1, 1, 2, 64, 64)]
    ms = root.attrs["ome"]["multiscales"][0]
    scales = [d["coordinateTransformations"][0]["scale"][2:] for d in ms["datasets"]]
    assert np.allclose(scales, [[0.2, 0.2, 0.2], [0.4, 0.4, 0.4], [0.8, 0.8, 0.8]])
    level0 = root["0"][0, 0]
    expected1 = np.stack(
        [shrink_z2(shrink_2x(level0[z]), shrink_2x(level0[z + 1])) for z in range(0, 8, 2)]
    )
    assert np.array_equal(root["1"][0, 0], expected1)
    assert [f for f in check_ngff(store) if f.severity.value == "error"] == []
    # anisotropic: Z stays until XY has caught up
    src = _isotropic_tiff(tmp_path / "aniso.ome.tif", z_step=1.0)
    [img] = _convert(src, tmp_path / "aniso.ome.zarr", settings.model_copy(update={"chunk_yx": 64}))
    root = zarr.open_group(str(tmp_path / "aniso.ome.zarr"), mode="r")
    assert [root[str(k)].shape[2] for k in range(img.levels)] == [8, 8, 8]


def test_wrong_level_scales_are_an_ngff_error(tmp_path: Path, settings: Settings) -> None:
    from validators import check_ngff

    src = _isotropic_tiff(tmp_path / "iso.ome.tif", z_step=0.2)
    store = tmp_path / "iso.ome.zarr"
    _convert(src, store, settings.model_copy(update={"chunk_yx": 64}))
    group = zarr.open_group(str(store), mode="r+")
    ome = group.attrs["ome"]
    ome["multiscales"][0]["datasets"][1]["coordinateTransformations"][0]["scale"][2] = 0.2
    group.attrs["ome"] = ome
    errors = [f for f in check_ngff(store) if f.severity.value == "error"]
    assert any("level '1'" in f.message and "'z'" in f.message for f in errors)


def test_label_pyramids_only_hold_labels_that_exist() -> None:
    from converters.pyramid import shrink_2x

    labels = np.array([[1, 1, 2, 3], [1, 5, 3, 3]], dtype=np.uint16)
    assert shrink_2x(labels, labels=True).tolist() == [[1, 3]]
    assert shrink_2x(labels).tolist() == [[2, 3]]  # a mean would invent label 2


def test_label_images_travel_with_their_image(tmp_path: Path, settings: Settings) -> None:
    from validators import check_ngff

    src = make_ome_tiff(tmp_path / "cells.ome.tif", c=2, z=3, y=150, x=140)
    mask = np.zeros((3, 150, 140), dtype=np.uint16)
    mask[:, 20:60, 30:90] = 7
    mask[:, 100:140, 10:50] = 3
    label_path = tmp_path / "cells.labels.nuclei.tif"
    tifffile.imwrite(label_path, mask, photometric="minisblack")
    store = tmp_path / "cells.ome.zarr"
    with open_tiff(src, max_xml_bytes=10**7, max_input_bytes=10**10) as tif:
        d = describe_tiff(tif, src)
    small = settings.model_copy(update={"chunk_yx": 64})
    write_ome_zarr(src, "tiff", d.ome, d.ome_xml, store, small, labels={"nuclei": label_path})
    root = zarr.open_group(str(store), mode="r")
    assert root["labels"].attrs["ome"]["labels"] == ["nuclei"]
    nuclei = root["labels"]["nuclei"]
    assert nuclei.attrs["ome"]["image-label"]["source"] == {"image": "../../"}
    assert np.array_equal(nuclei["0"][0, 0], mask)
    # every level holds only labels that exist
    for k in range(1, len(nuclei.attrs["ome"]["multiscales"][0]["datasets"])):
        assert set(np.unique(nuclei[str(k)][:])) <= {0, 3, 7}
    assert [f for f in check_ngff(store) if f.severity.value == "error"] == []
    # a label of the wrong size is refused, naming the label file
    tifffile.imwrite(label_path, mask[:, :100], photometric="minisblack")
    with pytest.raises(CorruptInputError, match=r"cells\.labels\.nuclei\.tif"):
        write_ome_zarr(
            src,
            "tiff",
            d.ome,
            d.ome_xml,
            tmp_path / "x.ome.zarr",
            small,
            labels={"nuclei": label_path},
        )
    assert not (tmp_path / "x.ome.zarr").exists()


def _nodes(path: Path) -> list[object]:
    """What ome-zarr-py (and napari-ome-zarr, which reads through it) finds at ``path``."""
    return [n for n in Reader(parse_url(str(path)))() if n.data]


def test_one_image_opens_at_the_store_in_every_reader(tmp_path: Path, settings: Settings) -> None:
    """Issue 13 item 11: one image is a plain NGFF image; every reader opens the store itself."""
    from core.ngffio import open_ngff
    from validators.loss import check_metadata_loss
    from validators.ngff import check_ngff

    src = make_ome_tiff(tmp_path / "in.ome.tif", c=2, z=3, y=96, x=80)
    mask = (tifffile.imread(src).reshape(2, 3, 96, 80)[0] > 30000).astype(np.uint16)
    tifffile.imwrite(tmp_path / "in.labels.cells.tif", mask, photometric="minisblack")
    with open_tiff(src, max_xml_bytes=10**7, max_input_bytes=10**10) as tif:
        d = describe_tiff(tif, src)
    store = tmp_path / "out.ome.zarr"
    write_ome_zarr(
        src,
        "tiff",
        d.ome,
        d.ome_xml,
        store,
        settings,
        labels={"cells": tmp_path / "in.labels.cells.tif"},
    )
    # ome-zarr-py's Reader: the image and its label, from the store's own path
    image, *rest = _nodes(store)
    assert image.data[0].shape == (1, 2, 3, 96, 80)
    assert any(n.data[0].shape == (1, 1, 3, 96, 80) for n in rest)
    # zarr: level 0 is the store's array "0"
    source = tifffile.imread(src).reshape(2, 3, 96, 80)
    assert np.array_equal(zarr.open_group(str(store), mode="r")["0"][0], source)
    from targets.bundle import first_image_path

    assert first_image_path(store) == ""
    # the OME-XML travels with it, the checks still run, fairway's NGFF input reader reads it
    assert (store / "OME" / "METADATA.ome.xml").read_text() == d.ome_xml
    assert [f for f in check_ngff(store) if f.severity.value == "error"] == []
    assert check_metadata_loss(d.ome_xml, store) == []
    back = open_ngff(store, max_xml_bytes=10**7, max_input_bytes=10**10)
    assert [i.path for i in back.images] == [""] and back.ome_xml == d.ome_xml
    # bioio with bioio-ome-zarr: BioImage(store) as a researcher writes it
    from bioio import BioImage

    img = BioImage(str(store))
    assert img.dims.shape == (1, 2, 3, 96, 80)
    assert np.array_equal(img.get_image_data("CZYX", T=0), source)


def test_several_images_keep_bioformats2raw_and_open_at_0(
    corpus: Path, tmp_path: Path, settings: Settings
) -> None:
    """Issue 13 item 11: several images keep the bioformats2raw layout; readers open ``/0``."""
    from validators.loss import check_metadata_loss
    from validators.ngff import check_ngff

    src = corpus / "ome-tiff" / "derived_multiseries_two_images.ome.tif"
    store = tmp_path / "two.ome.zarr"
    images = _convert(src, store, settings)
    assert [i.path for i in images] == ["0", "1"]
    root = zarr.open_group(str(store), mode="r")
    assert BioFormats2Raw.from_zarr(root).image_paths == ["0", "1"]
    assert _nodes(store) == []  # ome-zarr-py finds nothing at a bioformats2raw root...
    from targets.bundle import first_image_path, open_path

    assert first_image_path(store) == "0" and open_path(store) == f"{store}/0"  # ...so: /0
    with tifffile.TiffFile(src) as tif:
        first = tif.series[0].asarray()
    [node] = _nodes(Path(open_path(store)))
    assert np.asarray(node.data[0]).size == first.size
    # bioio with bioio-ome-zarr opens series 0 at ``/0`` when told its reader
    import bioio_ome_zarr
    from bioio import BioImage

    img = BioImage(open_path(store), reader=bioio_ome_zarr.Reader)
    assert img.data.size == first.size
    assert [f for f in check_ngff(store) if f.severity.value == "error"] == []
    with open_tiff(src, max_xml_bytes=10**7, max_input_bytes=10**10) as tif:
        xml = describe_tiff(tif, src).ome_xml
    assert check_metadata_loss(xml, store) == []
