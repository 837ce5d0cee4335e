"""Every readable corpus file converts with its pixels intact, valid NGFF and no metadata loss;
every malformed one is rejected with a typed error naming it, leaving nothing behind."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import tifffile
import zarr

from converters import write_ome_zarr
from core.errors import FairwayError
from core.omeutil import parse_ome
from core.settings import Settings
from ingest import fingerprint, scan
from metadata import extract
from tests.conftest import CORPUS
from validators import check_metadata_loss, check_ngff

READABLE_DIRS = [
    "plain-tiff",
    "ome-tiff",
    "imagej-tiff",
    "pyramidal-tiff",
    "nd2",
    "other-vendor",
    "czi",
    "lif",
    "ome-tiff-multifile/master",
    "ome-tiff-multifile/companion",
]
MALFORMED_DIRS = ["malformed/tiff", "malformed/derived"]
#: a DateTime tag that is not a date is a metadata gap (a finding), not damage
NOT_DAMAGE = {"checkit_invalid_date.tiff"}


def _units(dirs: list[str]) -> list[str]:
    if not CORPUS.is_dir():
        return []
    found = []
    for d in dirs:
        for cand in scan([CORPUS / d]):
            if cand.kind in {"tiff", "bioio", "czi"} and cand.source.name not in NOT_DAMAGE:
                found.append(str(cand.source.relative_to(CORPUS)))
    return sorted(found)


def _reference_values(path: Path, kind: str) -> np.ndarray:
    """All pixel values of the source, read by an independent reader (not fairway's)."""
    if kind == "czi":  # czifile's own whole-file assembly, not fairway's region reads
        import czifile

        with czifile.CziFile(str(path)) as czi:
            return np.asarray(czi.asarray(max_workers=1)).ravel()
    if path.suffix == ".lif":  # bioio-lif cannot read the corpus LIF files
        import liffile

        with liffile.LifFile(path) as lif:
            return np.concatenate([im.asarray().ravel() for im in lif.images])
    if kind == "bioio":
        from bioio import BioImage

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img = BioImage(path)
            parts = []
            for i in range(len(img.scenes)):
                img.set_scene(i)
                order = "TCZYXS" if "S" in img.dims.order else "TCZYX"
                parts.append(np.asarray(img.get_image_data(order)).ravel())
        return np.concatenate(parts)
    if path.name.endswith(".companion.ome"):
        path = path.with_name(path.name.replace(".companion.ome", "-Z1.ome.tiff"))
        path = path.parent.parent / "master" / path.name
    with tifffile.TiffFile(path) as tif:
        return np.concatenate([s.asarray(level=0).ravel() for s in tif.series])


@pytest.mark.parametrize("name", _units(READABLE_DIRS) or ["<no corpus>"])
def test_readable_corpus_file_round_trip(
    corpus: Path, tmp_path: Path, settings: Settings, name: str
) -> None:
    [cand] = [c for c in scan([corpus / name]) if c.source == corpus / name]
    acq = fingerprint(cand)
    record = extract(acq, settings)
    store = tmp_path / "out.ome.zarr"
    ome, _ = parse_ome(record.ome_xml)
    images = write_ome_zarr(acq.primary.path, acq.kind, ome, record.ome_xml, store, settings)
    root = zarr.open_group(str(store), mode="r")
    written = np.concatenate([root[i.path]["0"][:].ravel() for i in images])
    reference = _reference_values(acq.primary.path, acq.kind)
    assert written.size == reference.size
    assert np.array_equal(np.sort(written), np.sort(reference))
    assert [f for f in check_ngff(store) if f.severity.value == "error"] == []
    assert check_metadata_loss(record.ome_xml, store) == []


@pytest.mark.parametrize("name", _units(MALFORMED_DIRS) or ["<no corpus>"])
def test_malformed_corpus_file_is_rejected(
    corpus: Path, tmp_path: Path, settings: Settings, name: str
) -> None:
    [cand] = [c for c in scan([corpus / name]) if c.source == corpus / name]
    acq = fingerprint(cand)
    dest = tmp_path / "out" / "x.ome.zarr"

    def ingest_one() -> None:
        record = extract(acq, settings)
        ome, _ = parse_ome(record.ome_xml)
        write_ome_zarr(acq.primary.path, acq.kind, ome, record.ome_xml, dest, settings)

    with pytest.raises(FairwayError) as info:
        ingest_one()
    assert cand.source.name in str(info.value)
    assert not dest.parent.exists() or list(dest.parent.iterdir()) == []
