"""One contract every archive target passes: the primary archive, a second folder, and S3 (a
real moto server on loopback).

Write a committed bag, read it back, find every kind of damage (flipped bit, truncation,
deletion, extra file, altered manifest, missing commit marker) naming the copy and the file,
and repair it from the intact primary.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import bagit
import pytest

from converters import write_ome_zarr
from core.omeutil import parse_ome
from core.settings import Settings
from core.tiffio import open_tiff
from metadata.tiff import describe_tiff
from targets import LocalArchive, Target
from targets.copies import MARKER, BagCopy, FolderStore, ObjectStore, S3Store
from tests.conftest import S3Server
from tests.factories import make_ome_tiff


@pytest.fixture(scope="module")
def primary(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """A real committed bag in the primary archive: a sharded OME-Zarr and metadata."""
    from core.settings import load_settings

    root = tmp_path_factory.mktemp("primary")
    settings: Settings = load_settings(root / "home", chunk_yx=32, shard_yx=64)
    src = make_ome_tiff(root / "cells.ome.tif")
    with open_tiff(src, max_xml_bytes=10**7, max_input_bytes=10**10) as tif:
        desc = describe_tiff(tif, src)
    payload = root / "payload"
    write_ome_zarr(
        src, "tiff", parse_ome(desc.ome_xml)[0], desc.ome_xml, payload / "d.ome.zarr", settings
    )
    (payload / "metadata").mkdir()
    (payload / "metadata" / "record.json").write_text("{}", encoding="utf-8")
    archive = LocalArchive(root / "archive")
    archive.publish("fw-contract", payload, {"External-Identifier": "fw-contract"})
    return "fw-contract", root / "archive" / "fw-contract"


@dataclass
class Subject:
    """A target under test and raw access to its bytes (to damage them)."""

    target: Target
    store: ObjectStore


@pytest.fixture(params=["primary", "folder", "s3"])
def copy(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Subject]:
    if request.param == "primary":
        yield Subject(LocalArchive(tmp_path / "archive"), FolderStore(tmp_path / "archive"))
        return
    if request.param == "folder":
        store: ObjectStore = FolderStore(tmp_path / "nas")
        yield Subject(BagCopy("nas", store), store)
        return
    server: S3Server = request.getfixturevalue("s3_server")
    bucket = f"s3://fairway-{tmp_path.name.lower().replace('_', '-')[-40:]}/archive"
    store = S3Store(bucket, endpoint_url=server.endpoint_url, key=server.key, secret=server.secret)
    yield Subject(BagCopy("s3", store), store)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_copy_round_trip(copy: Subject, primary: tuple[str, Path], tmp_path: Path) -> None:
    dataset, bag = primary
    target = copy.target
    assert isinstance(target, Target)
    assert not target.exists(dataset)
    result = target.sync(dataset, bag)
    assert target.exists(dataset) and result.payload_files > 0
    assert target.verify(dataset) == []
    fetched = target.fetch(dataset, tmp_path / "fetched" / dataset)
    bagit.Bag(str(fetched)).validate()
    for path in bag.rglob("*"):
        if path.is_file():
            assert _sha(fetched / path.relative_to(bag)) == _sha(path)
    # zarr v3 shards: the manifest lists shard files, fewer than the chunks they hold
    level0 = bag / "data" / "d.ome.zarr" / "0"  # one image: level 0 at the top
    meta = json.loads((level0 / "zarr.json").read_text(encoding="utf-8"))
    [sharding] = [c for c in meta["codecs"] if c["name"] == "sharding_indexed"]
    inner = sharding["configuration"]["chunk_shape"]
    chunks = math.prod(-(-n // c) for n, c in zip(meta["shape"], inner, strict=True))
    shard_files = [p for p in level0.rglob("*") if p.is_file() and "/c/" in p.as_posix()]
    assert 0 < len(shard_files) < chunks
    target.sync(dataset, bag)  # idempotent
    assert target.verify(dataset) == []


def _corrupt(copy: Subject, dataset: str, bag: Path, kind: str) -> str:
    store = copy.store
    shard = next(
        p for p in sorted((bag / "data").rglob("*")) if p.is_file() and "/c/" in p.as_posix()
    )
    rel = shard.relative_to(bag).as_posix()
    data = store.read(f"{dataset}/{rel}")
    assert data is not None
    if kind == "bit-flip":
        flipped = bytearray(data)
        flipped[len(flipped) // 2] ^= 0x01
        store.write(f"{dataset}/{rel}", bytes(flipped))
    elif kind == "truncation":
        store.write(f"{dataset}/{rel}", data[: len(data) // 2])
    elif kind == "deletion":
        store.delete(f"{dataset}/{rel}")
    elif kind == "extra-file":
        rel = "data/d.ome.zarr/0/stray.bin"
        store.write(f"{dataset}/{rel}", b"not listed")
    elif kind == "manifest":
        rel = "manifest-sha256.txt"
        text = store.read(f"{dataset}/{rel}") or b""
        store.write(f"{dataset}/{rel}", text.replace(b"data/", b"data//", 1))
    return rel


@pytest.mark.parametrize("kind", ["bit-flip", "truncation", "deletion", "extra-file", "manifest"])
def test_damage_is_found_and_repaired(copy: Subject, primary: tuple[str, Path], kind: str) -> None:
    dataset, bag = primary
    target = copy.target
    target.sync(dataset, bag)
    rel = _corrupt(copy, dataset, bag, kind)
    findings = target.verify(dataset)
    assert findings, f"{kind} not detected"
    assert any(rel in f.path or rel in f.message for f in findings)
    assert all(f.check == "fixity" for f in findings)
    if isinstance(target, BagCopy):
        assert all(f"copy '{target.name}'" in f.message for f in findings)
    target.sync(dataset, bag)  # repair from the intact bag
    assert target.verify(dataset) == []


def test_an_uncommitted_dataset_is_not_there(copy: Subject, primary: tuple[str, Path]) -> None:
    """Without its commit (the primary's final rename, a copy's marker) a dataset is absent."""
    dataset, bag = primary
    target = copy.target
    target.sync(dataset, bag)
    if isinstance(target, LocalArchive):
        final = Path(target.location(dataset))
        final.rename(target.staging / f"{dataset}.interrupted")
    else:
        copy.store.delete(f"{dataset}/{MARKER}")
    assert not target.exists(dataset)
    findings = target.verify(dataset)
    assert findings and all(f.check == "fixity" for f in findings)
    target.sync(dataset, bag)
    assert target.exists(dataset) and target.verify(dataset) == []
