"""CZI (czifile) and LIF (liffile) readers: placement, regions, pickling, typed errors."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import tifffile

from converters.readers import RegionReader, region_series
from core.cziio import open_czi
from core.errors import CorruptInputError
from core.lifio import lif_fallback
from metadata.czi_source import czi_ome
from metadata.lif_source import lif_ome

LIMITS = {"max_input_bytes": 2**40, "max_xml_bytes": 2**26}


def _full(reader: RegionReader, scene: int = 0) -> np.ndarray:
    [series] = region_series(reader, memory_limit=2**30)[scene : scene + 1]
    return np.asarray(series.data)


def test_czi_planes_in_order_match_a_tiff_exported_from_it(corpus: Path) -> None:
    with open_czi(corpus / "czi" / "CD_s_1_t_3_c_2_z_5.czi", **LIMITS) as reader:
        data = _full(reader)
    assert data.shape == (3, 2, 5, 170, 240)
    exported = tifffile.imread(corpus / "imagej-tiff" / "derived_hyperstack_TZCYX_from_CD_czi.tif")
    # the export is T, Z, C, Y, X
    assert np.array_equal(data, exported.transpose(0, 2, 1, 3, 4))


def test_czi_mosaic_read_in_small_blocks_equals_whole_planes(corpus: Path) -> None:
    for name in ("mosaic_test.czi", "tiles.czi"):
        with open_czi(corpus / "czi" / name, **LIMITS) as reader:
            whole = _full(reader)
            [tiled] = region_series(reader, memory_limit=1, block_yx=100)
            assert tiled.data.chunks[3][0] == 100  # really read region by region
            assert np.array_equal(np.asarray(tiled.data), whole)


def test_czi_metadata_maps_to_ome(corpus: Path) -> None:
    ome = czi_ome(open_czi(corpus / "czi" / "CD_s_1_t_3_c_2_z_5.czi", **LIMITS))
    px = ome.images[0].pixels
    assert px.physical_size_x == pytest.approx(0.0905767, rel=1e-5)
    assert px.physical_size_z == pytest.approx(0.32)
    assert px.time_increment == pytest.approx(60.075)
    assert [c.name for c in px.channels] == ["LED555", "LED470"]
    assert [c.emission_wavelength for c in px.channels] == [568, 517]
    assert px.planes[0].exposure_time == pytest.approx(100.0)  # ms (ZEN writes ns)
    objective = ome.instruments[0].objectives[0]
    assert (objective.lens_na, objective.nominal_magnification) == (1.2, 50)
    rgb = czi_ome(open_czi(corpus / "czi" / "RGB-8bit.czi", **LIMITS)).images[0].pixels
    assert rgb.size_c == 3 and [c.samples_per_pixel for c in rgb.channels] == [1, 1, 1]


def test_readers_pickle_for_distributed_workers(corpus: Path) -> None:
    whole = slice(None)
    with (
        open_czi(corpus / "czi" / "tiles.czi", **LIMITS) as czi,
        pickle.loads(pickle.dumps(czi)) as again,
    ):
        assert np.array_equal(
            again.read(0, 0, 1, 0, whole, whole), czi.read(0, 0, 1, 0, whole, whole)
        )
    found = lif_fallback(
        corpus / "lif" / "xz-example.lif", max_input_bytes=2**40, memory_limit=2**30
    )
    assert found is not None
    lif = found[0]
    again_lif = pickle.loads(pickle.dumps(lif))
    assert np.array_equal(
        again_lif.read(1, 0, 1, 3, whole, whole), lif.read(1, 0, 1, 3, whole, whole)
    )


def test_lif_fallback_maps_xz_scans_and_lambda_sweeps(corpus: Path) -> None:
    import liffile

    path = corpus / "lif" / "xz-example.lif"
    found = lif_fallback(path, max_input_bytes=2**40, memory_limit=2**30)
    assert found is not None and "frame dimension" in found[2]
    with found[0] as reader:
        assert [s.shape for s in reader.scenes] == [
            (20, 2, 128, 1, 128),
            (1, 2, 128, 23, 128),
            (1, 2, 512, 1, 512),
        ]
        with liffile.LifFile(path) as lif:
            xzy = lif.images[1].asarray()  # Y, C, Z, X
        assert np.array_equal(_full(reader, 1)[0], xzy.transpose(1, 2, 0, 3))
    sweep = lif_fallback(
        corpus / "lif" / "LeicaLASX_wavelength-sweep_example.lif",
        max_input_bytes=2**40,
        memory_limit=2**30,
    )
    assert sweep is not None
    ome = lif_ome(sweep[0])
    emission = [c.emission_wavelength for c in ome.images[0].pixels.channels]
    assert len(emission) == 20 and emission[:2] == [550.0, 560.0]
    assert ome.images[2].pixels.time_increment == pytest.approx(80.91)


def test_truncated_czi_is_refused_at_open(corpus: Path) -> None:
    path = corpus / "malformed" / "derived" / "truncated_60pct_CD_s_1_t_3_c_2_z_5.czi"
    with pytest.raises(CorruptInputError, match="beyond the end of the file"):
        open_czi(path, **LIMITS)
