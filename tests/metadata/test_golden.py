"""Golden extraction tests on the corpus: the fields (value and source) each file gives.

Each golden file under ``tests/golden/`` was written by this test with
``FAIRWAY_UPDATE_GOLDEN=1`` and then read by a person against the source file. A change in
what is extracted shows up as a diff to review, not as silence. A few values per file are
also checked here against what ome-types or bioio report on their own.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

import pytest
from ome_types import from_xml

from core.omeutil import parse_ome
from core.settings import Settings
from metadata import extract
from metadata.ome_map import ome_fields
from tests.factories import acquisition_of

GOLDEN = Path(__file__).parent.parent / "golden"
UPDATE = os.environ.get("FAIRWAY_UPDATE_GOLDEN") == "1"

OME_XML = [
    "2016-06/instrument.ome.xml",
    "2016-06/filter.ome.xml",
    "2016-06/spim.ome.xml",
    "2016-06/multi-channel-z-series-time-series.ome.xml",
    "2008-09/single-image.ome.xml",
    "real-world/issue38.ome.xml",
]
FILES = [
    ("ome-tiff/multi-channel-z-series.ome.tif", "tiff"),
    ("imagej-tiff/blobs.tif", "tiff"),
    ("czi/CD_s_1_t_3_c_2_z_5.czi", "czi"),
    ("nd2/example-zstack.nd2", "bioio"),
    ("lif/LeicaLASX_wavelength-sweep_example.lif", "bioio"),
]


def _compare(name: str, fields: dict[str, Any]) -> None:
    got = {
        k: [v.value, v.source]
        for k, v in sorted(fields.items())
        if not k.startswith("source.")
        and not k.startswith("instrument.registry")
        # ids are references, not metadata; ome-types renumbers broken ones per process
        and not k.endswith((".id", "_ref"))
    }
    path = GOLDEN / (name.replace("/", "__") + ".json")
    if UPDATE or not path.exists():
        if not UPDATE:
            pytest.fail(
                f"no golden file {path.name}; run with FAIRWAY_UPDATE_GOLDEN=1 and review it"
            )
        path.parent.mkdir(exist_ok=True)
        path.write_text(json.dumps(got, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    want = json.loads(path.read_text(encoding="utf-8"))
    assert got == want


@pytest.mark.parametrize("name", OME_XML)
def test_golden_ome_xml(corpus: Path, name: str) -> None:
    xml = (corpus / "ome-xml" / name).read_text(encoding="utf-8")
    ome, _ = parse_ome(xml)
    fields = ome_fields(ome)
    _compare(f"ome-xml/{name}", fields)
    # independent check: ome-types' own reading of the first image
    if ome.images:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # old or broken OME-XML: ome-types complains
            px = from_xml(xml, validate=False).images[0].pixels
        assert fields["pixels.size_x"].value == px.size_x
        assert fields["pixels.size_c"].value == px.size_c
        if px.physical_size_x is not None:
            assert fields["pixels.physical_size_x"].value == px.physical_size_x


@pytest.mark.parametrize(("name", "kind"), FILES)
def test_golden_vendor_files(corpus: Path, settings: Settings, name: str, kind: str) -> None:
    record = extract(acquisition_of(corpus / name, kind=kind), settings)
    _compare(name, record.fields)
    assert record.value("pixels.size_x") and record.value("pixels.size_y")


def test_nd2_values_match_bioio_on_its_own(corpus: Path, settings: Settings) -> None:
    import bioio_nd2
    from bioio import BioImage

    path = corpus / "nd2" / "example-zstack.nd2"
    record = extract(acquisition_of(path, kind="bioio"), settings)
    image = BioImage(path, reader=bioio_nd2.Reader)
    sizes = image.physical_pixel_sizes
    assert record.value("pixels.physical_size_x") == pytest.approx(sizes.X)
    assert record.value("pixels.physical_size_z") == pytest.approx(sizes.Z)
    assert record.value("pixels.size_z") == image.dims.Z
    assert record.value("channels[0].name") == str(image.channel_names[0])
