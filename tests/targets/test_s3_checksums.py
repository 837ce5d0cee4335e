"""S3 copies carry each file's SHA-256 as the store's own object checksum (a real moto server).

A quick audit (``fairway verify --quick``) compares those checksums with the manifest and
downloads no payload object; the deep audit (the default, and the scheduled one) re-reads
every byte, so it also finds damage the store's checksum does not show.
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

import pytest

from targets import LocalArchive
from targets.bagfiles import payload_entries
from targets.copies import BagCopy, S3Store
from tests.conftest import S3Server

DATASET = "fw-sums"


@pytest.fixture
def bag(tmp_path: Path) -> Path:
    payload = tmp_path / "payload"
    (payload / "img" / "c").mkdir(parents=True)
    for i in range(3):
        (payload / "img" / "c" / str(i)).write_bytes(bytes(range(256)) * (200 + i))
    (payload / "metadata.json").write_text('{"a": 1}', encoding="utf-8")
    LocalArchive(tmp_path / "archive").publish(DATASET, payload, {})
    return tmp_path / "archive" / DATASET


@pytest.fixture
def s3(s3_server: S3Server, tmp_path: Path) -> BagCopy:
    bucket = f"s3://sums-{tmp_path.name.lower().replace('_', '-')[-40:]}/copy"
    store = S3Store(
        bucket, endpoint_url=s3_server.endpoint_url, key=s3_server.key, secret=s3_server.secret
    )
    return BagCopy("s3", store)


def _payload_gets(store: S3Store) -> list[str]:
    """Keys of the payload objects downloaded from now on (GetObject requests sent)."""
    got: list[str] = []

    def count(params: dict[str, Any], **_: Any) -> None:
        if "/data/" in params.get("Key", ""):
            got.append(params["Key"])

    store.fs.s3.meta.events.register("before-parameter-build.s3.GetObject", count)
    return got


def _b64(digest_hex: str) -> str:
    return base64.b64encode(bytes.fromhex(digest_hex)).decode()


def test_every_object_carries_the_manifest_sha256(s3: BagCopy, bag: Path) -> None:
    s3.sync(DATASET, bag)
    store = s3.store
    assert isinstance(store, S3Store)
    for rel, digest in payload_entries(bag).items():
        assert store.stored_sha256(f"{DATASET}/{rel}") == digest, rel


def test_quick_audit_finds_replaced_bytes_without_downloading(
    s3: BagCopy, bag: Path, tmp_path: Path
) -> None:
    s3.sync(DATASET, bag)
    store = s3.store
    assert isinstance(store, S3Store)
    gets = _payload_gets(store)
    assert s3.verify(DATASET, quick=True) == []
    other = tmp_path / "other"
    other.write_bytes(b"other bytes")
    store.put(f"{DATASET}/data/img/c/1", other)  # re-put: a new object, its own checksum
    [finding] = s3.verify(DATASET, quick=True)
    assert "data/img/c/1" in finding.message and "copy 's3'" in finding.message
    assert gets == []  # nothing of the payload was downloaded
    assert len(s3.verify(DATASET)) == 1  # the deep audit agrees
    assert len(gets) == 4  # and it read every payload object


def test_deep_audit_finds_a_flipped_bit_the_store_checksum_hides(s3: BagCopy, bag: Path) -> None:
    """Bytes that changed under an unchanged stored checksum (bit rot, a buggy server)."""
    s3.sync(DATASET, bag)
    store = s3.store
    assert isinstance(store, S3Store)
    key = f"{DATASET}/data/img/c/2"
    data = bytearray(store.read(key) or b"")
    data[len(data) // 2] ^= 0x01
    bucket, path = store.fs.split_path(store._full(key))[:2]
    expected = payload_entries(bag)["data/img/c/2"]
    # moto keeps the checksum it is given without checking it; AWS would refuse the put
    forged = {"ChecksumAlgorithm": "SHA256", "ChecksumSHA256": _b64(expected)}
    store.fs.call_s3("put_object", Bucket=bucket, Key=path, Body=bytes(data), **forged)
    assert store.stored_sha256(key) == expected
    assert s3.verify(DATASET, quick=True) == []  # what a quick audit cannot see
    [finding] = s3.verify(DATASET)
    assert "data/img/c/2" in finding.message
    assert expected[:12] in finding.message
    assert hashlib.sha256(bytes(data)).hexdigest()[:12] in finding.message
