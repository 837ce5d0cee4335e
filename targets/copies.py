"""Further copies of the archive: a second folder or NAS, or S3 (any S3-speaking server).

The primary archive (:class:`~targets.archive.LocalArchive`) builds and commits each bag. A
facility can require more copies (setting ``archive_copies``: ``/nas/fairway``,
``file:///...``, ``s3://bucket/prefix``). Each copy receives the committed bag file by file and
is committed by a marker written last (``fairway-commit.json``, holding the manifest's
checksum), after every file was **read back from the backend** (a fresh GET, never a cache)
and matched its manifest checksum. A copy without its marker is not committed: readers and
audits treat it as absent, and the next run completes it.

OME-Zarr stores are written with zarr v3 shards, so the BagIt manifest has one line per shard,
not per chunk: an audit scales with shards.

The same sync repairs a damaged copy from an intact one, and carries a new metadata version
(``fairway fix``) from the primary to every copy: the marker is removed, only the files whose
checksum differs are sent, extra files are deleted, everything is read back, and the marker is
written again.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from core.errors import TargetError
from core.files import file_digest, fsync_dir
from core.records import ArchivedDataset, Finding, Severity
from core.settings import Settings
from targets.bagfiles import bag_entries, stored_entries

__all__ = [
    "MARKER",
    "BagCopy",
    "FolderStore",
    "ObjectStore",
    "S3Store",
    "open_copies",
    "open_copy",
]

MARKER = "fairway-commit.json"
try:  # s3fs brings botocore; its errors are storage failures like OSError
    from botocore.exceptions import BotoCoreError, ClientError

    STORE_ERRORS: tuple[type[BaseException], ...] = (OSError, BotoCoreError, ClientError)
except ImportError:  # pragma: no cover - botocore comes with s3fs
    STORE_ERRORS = (OSError,)
TAG_FILES = ("bagit.txt", "bag-info.txt", "manifest-sha256.txt", "tagmanifest-sha256.txt")
CHUNK = 8 * 1024**2


class ObjectStore(Protocol):
    """The few operations a copy needs from a backend, keyed by '<dataset>/<relative path>'."""

    url: str

    def keys(self, prefix: str) -> set[str]:
        """Every key under ``prefix`` (relative to it), listed fresh."""
        ...

    def digest(self, key: str) -> str | None:
        """sha256 of the stored bytes, read fresh from the backend; None if absent."""
        ...

    def read(self, key: str) -> bytes | None:
        """The stored bytes of a small object, read fresh; None if absent."""
        ...

    def put(self, key: str, source: Path) -> None:
        """Store ``source``'s bytes under ``key`` (visible whole or not at all)."""
        ...

    def write(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key``."""
        ...

    def delete(self, key: str) -> None:
        """Remove ``key`` if present."""
        ...

    def get(self, key: str, dest: Path) -> None:
        """Copy the stored bytes of ``key`` to ``dest``."""
        ...


class FolderStore:
    """A folder (local disk or NAS mount) as an object store."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.url = self.root.as_uri()

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise TargetError(f"key {key!r} leaves the copy's folder", where=self.root)
        return path

    def keys(self, prefix: str) -> set[str]:  # noqa: D102 - see ObjectStore
        base = self._path(prefix)
        if not base.is_dir():
            return set()
        return {p.relative_to(base).as_posix() for p in base.rglob("*") if p.is_file()}

    def digest(self, key: str) -> str | None:  # noqa: D102 - see ObjectStore
        path = self._path(key)
        return file_digest(path) if path.is_file() else None

    def read(self, key: str) -> bytes | None:  # noqa: D102 - see ObjectStore
        path = self._path(key)
        return path.read_bytes() if path.is_file() else None

    def put(self, key: str, source: Path) -> None:  # noqa: D102 - see ObjectStore
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.part")
        shutil.copyfile(source, tmp)
        with tmp.open("rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)

    def write(self, key: str, data: bytes) -> None:  # noqa: D102 - see ObjectStore
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.part")
        tmp.write_bytes(data)
        os.replace(tmp, path)
        fsync_dir(path.parent)

    def delete(self, key: str) -> None:  # noqa: D102 - see ObjectStore
        self._path(key).unlink(missing_ok=True)

    def get(self, key: str, dest: Path) -> None:  # noqa: D102 - see ObjectStore
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self._path(key), dest)


class S3Store:
    """An S3 bucket prefix (AWS, MinIO, Ceph, moto...) through s3fs, with caches off."""

    #: objects below this size go in one PUT carrying their SHA-256 (s3fs uploads larger ones
    #: in parts of half this size, whose checksum can only be one of part checksums)
    ONE_PUT = 128 * 1024**2

    @staticmethod
    def _checksum(digest_hex: str) -> dict[str, str]:
        value = base64.b64encode(bytes.fromhex(digest_hex)).decode("ascii")
        return {"ChecksumAlgorithm": "SHA256", "ChecksumSHA256": value}

    def __init__(
        self,
        url: str,
        *,
        endpoint_url: str | None = None,
        key: str | None = None,
        secret: str | None = None,
    ) -> None:
        import s3fs

        self.url = url.rstrip("/")
        self.prefix = self.url.removeprefix("s3://")
        self.fs = s3fs.S3FileSystem(
            key=key,
            secret=secret,
            client_kwargs={"endpoint_url": endpoint_url} if endpoint_url else {},
            use_listings_cache=False,
            skip_instance_cache=True,
            default_cache_type="none",
            config_kwargs={
                "connect_timeout": 10,
                "read_timeout": 120,
                "retries": {"max_attempts": 2, "mode": "standard"},
                # reads hash the bytes themselves and name the file that differs; botocore's
                # own check of a stored checksum would fail the whole read instead
                "response_checksum_validation": "when_required",
            },
        )
        # s3fs retries on top of botocore; the archive step retries the whole copy too
        self.fs.retries = 2
        bucket = self.prefix.split("/", 1)[0]
        try:
            if not self.fs.exists(bucket):
                self.fs.mkdir(bucket)
        except STORE_ERRORS as exc:
            raise TargetError(
                f"S3 bucket not reachable: {exc}",
                where=self.url,
                hint="check archive_copies, s3_endpoint_url and the S3 credentials",
            ) from exc

    def _full(self, key: str) -> str:
        return f"{self.prefix}/{key}"

    def keys(self, prefix: str) -> set[str]:  # noqa: D102 - see ObjectStore
        base = self._full(prefix).rstrip("/")
        self.fs.invalidate_cache()
        try:
            found = self.fs.find(base)
        except FileNotFoundError:
            return set()
        return {str(k)[len(base) + 1 :] for k in found}

    def digest(self, key: str) -> str | None:  # noqa: D102 - see ObjectStore
        h = hashlib.sha256()
        try:
            with self.fs.open(self._full(key), "rb", block_size=CHUNK, cache_type="none") as fh:
                while block := fh.read(CHUNK):
                    h.update(block)
        except FileNotFoundError:
            return None
        return h.hexdigest()

    def read(self, key: str) -> bytes | None:  # noqa: D102 - see ObjectStore
        try:
            data: bytes = self.fs.cat_file(self._full(key))
        except FileNotFoundError:
            return None
        return data

    def put(self, key: str, source: Path) -> None:
        """Store ``source`` under ``key`` with its SHA-256 as the object's own checksum.

        The server checks the bytes it received against the checksum sent with them (AWS
        refuses a mismatch) and keeps it, so an audit can compare without a download
        (:meth:`stored_sha256`). s3fs sends a file larger than two of its chunks as a
        multipart upload, whose SHA-256 can only be a checksum of part checksums: such an
        object has no full-object checksum and a quick audit reads its bytes.
        """
        one_put = source.stat().st_size < self.ONE_PUT
        extra = self._checksum(file_digest(source)) if one_put else {}
        self.fs.put_file(str(source), self._full(key), chunksize=self.ONE_PUT // 2, **extra)

    def write(self, key: str, data: bytes) -> None:  # noqa: D102 - see ObjectStore
        one_put = len(data) < self.ONE_PUT
        extra = self._checksum(hashlib.sha256(data).hexdigest()) if one_put else {}
        self.fs.pipe_file(self._full(key), data, chunksize=self.ONE_PUT // 2, **extra)

    def stored_sha256(self, key: str) -> str | None:
        """The SHA-256 the store keeps for the whole object (hex), from a HEAD request.

        ``None`` when the object has none: absent, written without one, or a multipart
        upload (its checksum is one of part checksums, ``...-N``).
        """
        bucket, path = self.fs.split_path(self._full(key))[:2]
        try:
            head = self.fs.call_s3("head_object", Bucket=bucket, Key=path, ChecksumMode="ENABLED")
        except FileNotFoundError:
            return None
        value = head.get("ChecksumSHA256")
        if not value or "-" in value or head.get("ChecksumType", "FULL_OBJECT") != "FULL_OBJECT":
            return None
        return base64.b64decode(value).hex()

    def delete(self, key: str) -> None:  # noqa: D102 - see ObjectStore
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm_file(self._full(key))

    def get(self, key: str, dest: Path) -> None:  # noqa: D102 - see ObjectStore
        dest.parent.mkdir(parents=True, exist_ok=True)
        self.fs.get_file(self._full(key), str(dest))


def _local_files(bag: Path) -> Iterator[str]:
    for path in sorted(bag.rglob("*")):
        rel = path.relative_to(bag).as_posix()
        if path.is_file() and not rel.startswith("."):
            yield rel


def _check_source(bag: Path, local: dict[str, str]) -> None:
    """Refuse to copy a bag that does not match its own manifests, or names outside paths.

    A copy is only ever made of a verified bag.
    """
    try:
        entries = bag_entries(bag)
    except TargetError as exc:
        raise TargetError(
            f"the bag to copy does not verify ({exc.problem})", where=bag, hint=exc.hint
        ) from exc
    problems = [
        rel
        for rel, digest in entries.items()
        if rel.startswith("/") or ".." in rel.split("/") or local.get(rel) != digest
    ]
    problems += sorted(set(local) - set(entries) - {"tagmanifest-sha256.txt"})
    if not entries or problems:
        raise TargetError(
            f"the bag to copy does not verify ({(problems or ['no manifest'])[0]})",
            where=bag,
            hint="run `fairway verify` and `fairway repair` on it first",
        )


class BagCopy:
    """One further copy of the archive on an object store."""

    def __init__(self, name: str, store: ObjectStore, *, threads: int = 2) -> None:
        self.name = name
        self.store = store
        self.threads = max(1, threads)

    def location(self, dataset: str) -> str:
        """URL of the dataset in this copy."""
        return f"{self.store.url}/{dataset}"

    def exists(self, dataset: str) -> bool:
        """Whether the dataset is committed in this copy (its marker is there)."""
        return self.store.read(f"{dataset}/{MARKER}") is not None

    def _finding(self, dataset: str, rel: str, message: str) -> Finding:
        return Finding(
            path=f"{self.location(dataset)}/{rel}",
            module="fixity",
            level="required",
            severity=Severity.ERROR,
            message=f"copy '{self.name}': {message}",
            fix_hint=f"fairway repair {dataset} (restores it from an intact copy)",
            check="fixity",
        )

    def verify(self, dataset: str, *, quick: bool = False) -> list[Finding]:
        """Re-read every byte of the dataset in this copy and compare with its manifests.

        ``quick``: where the store keeps a SHA-256 of each object (S3), compare that with
        the manifest instead of downloading the object; the deep audit reads every byte.
        """
        try:
            return self._verify(dataset, quick=quick)
        except STORE_ERRORS as exc:
            return [self._finding(dataset, "", f"cannot be read: {exc}")]

    def _verify(self, dataset: str, *, quick: bool = False) -> list[Finding]:
        marker_bytes = self.store.read(f"{dataset}/{MARKER}")
        if marker_bytes is None:
            return [self._finding(dataset, MARKER, "not committed (no commit marker)")]
        marker = json.loads(marker_bytes)
        manifest_bytes = self.store.read(f"{dataset}/manifest-sha256.txt") or b""
        out = []
        if hashlib.sha256(manifest_bytes).hexdigest() != marker.get("manifest_sha256"):
            out.append(
                self._finding(
                    dataset, "manifest-sha256.txt", "manifest differs from the committed one"
                )
            )
        try:
            listed = stored_entries(
                lambda name: self.store.read(f"{dataset}/{name}"), self.location(dataset)
            )
        except TargetError as exc:
            return [*out, self._finding(dataset, "manifest-sha256.txt", exc.problem)]
        present = self.store.keys(dataset)
        out += [
            self._finding(dataset, rel, f"{rel}: listed in the manifest but missing")
            for rel in sorted(set(listed) - present)
        ]
        extra = present - set(listed) - {MARKER, "tagmanifest-sha256.txt"}
        out += [
            self._finding(dataset, rel, f"{rel}: present but not in the manifest")
            for rel in sorted(extra)
        ]

        stored = self.store.stored_sha256 if quick and isinstance(self.store, S3Store) else None

        def check(rel: str) -> Finding | None:
            actual = stored(f"{dataset}/{rel}") if stored is not None else None
            actual = actual or self.store.digest(f"{dataset}/{rel}")
            if actual is not None and actual != listed[rel]:
                return self._finding(
                    dataset,
                    rel,
                    f"{rel}: sha256 is {actual[:12]}…, manifest says {listed[rel][:12]}…",
                )
            return None

        with ThreadPoolExecutor(max_workers=self.threads) as pool:
            out += [f for f in pool.map(check, sorted(set(listed) & present)) if f is not None]
        return out

    def sync(self, dataset: str, bag: Path) -> ArchivedDataset:
        """Make this copy of ``dataset`` equal to the verified local ``bag``, then commit it.

        Used to write a new copy, to repair a damaged one and to carry a new metadata
        version. Only files whose stored checksum differs are sent.

        Raises
        ------
        TargetError
            Writing or reading back failed; the copy stays uncommitted (no marker).
        """
        local = {rel: file_digest(bag / rel) for rel in _local_files(bag)}
        _check_source(bag, local)
        try:
            self.store.delete(f"{dataset}/{MARKER}")
            present = self.store.keys(dataset)

            def send(rel: str) -> None:
                key = f"{dataset}/{rel}"
                if rel in present and self.store.digest(key) == local[rel]:
                    return
                self.store.put(key, bag / rel)

            with ThreadPoolExecutor(max_workers=self.threads) as pool:
                list(pool.map(send, sorted(local)))
            for rel in sorted(present - set(local)):
                self.store.delete(f"{dataset}/{rel}")

            def read_back(rel: str) -> str | None:
                got = self.store.digest(f"{dataset}/{rel}")
                return None if got == local[rel] else rel

            with ThreadPoolExecutor(max_workers=self.threads) as pool:
                bad = [r for r in pool.map(read_back, sorted(local)) if r is not None]
            if bad:
                raise TargetError(
                    f"read-back of copy '{self.name}' differs for {bad[0]}",
                    where=self.location(dataset),
                    hint="check the storage; the copy was not committed and will be retried",
                )
            manifest = (bag / "manifest-sha256.txt").read_bytes()
            marker: dict[str, Any] = {
                "dataset": dataset,
                "manifest_sha256": hashlib.sha256(manifest).hexdigest(),
                "files": len(local),
                "bytes": sum((bag / rel).stat().st_size for rel in local),
                "committed_at": datetime.now(UTC).isoformat(),
            }
            self.store.write(f"{dataset}/{MARKER}", json.dumps(marker).encode())
        except STORE_ERRORS as exc:
            raise TargetError(
                f"copy '{self.name}' failed: {exc}",
                where=self.location(dataset),
                hint="check the connection and credentials; it will be retried",
            ) from exc
        return ArchivedDataset(
            dataset=dataset,
            location=self.location(dataset),
            payload_files=sum(1 for rel in local if rel.startswith("data/")),
            payload_bytes=sum(
                (bag / rel).stat().st_size for rel in local if rel.startswith("data/")
            ),
            verified_at=datetime.now(UTC),
            manifest_sha256=marker["manifest_sha256"],
        )

    def fetch_file(self, dataset: str, rel: str, dest: Path) -> bool:
        """Download one file of the dataset (committed or not) to ``dest``; whether it exists."""
        try:
            if self.store.digest(f"{dataset}/{rel}") is None:
                return False
            self.store.get(f"{dataset}/{rel}", dest)
        except STORE_ERRORS:
            return False
        return dest.is_file()

    def fetch(self, dataset: str, dest: Path) -> Path:
        """Download the committed dataset into ``dest`` (a bag folder)."""
        if not self.exists(dataset):
            raise TargetError(
                f"copy '{self.name}' has no committed {dataset}", where=self.store.url
            )
        for rel in sorted(self.store.keys(dataset) - {MARKER}):
            self.store.get(f"{dataset}/{rel}", dest / rel)
        return dest


def open_copy(
    url: str,
    *,
    threads: int = 2,
    endpoint_url: str | None = None,
    key: str | None = None,
    secret: str | None = None,
) -> BagCopy:
    """The copy an ``archive_copies`` entry names (a folder, ``file://`` or ``s3://`` URL)."""
    if url.startswith("s3://"):
        store: ObjectStore = S3Store(url, endpoint_url=endpoint_url, key=key, secret=secret)
    elif url.startswith("file://"):
        store = FolderStore(Path(url.removeprefix("file://")))
    elif "://" in url:
        raise TargetError(
            f"unsupported archive copy URL {url!r}",
            hint="use a folder path, file:///path or s3://bucket/prefix",
        )
    else:
        store = FolderStore(Path(url))
    return BagCopy(url, store, threads=threads)


def open_copies(settings: Settings) -> list[BagCopy]:
    """The further copies the settings require (none by default)."""

    def secret(value: Any) -> str | None:
        return value.get_secret_value() if value is not None else None

    return [
        open_copy(
            url,
            threads=settings.workers,
            endpoint_url=settings.s3_endpoint_url,
            key=secret(settings.s3_key),
            secret=secret(settings.s3_secret),
        )
        for url in settings.archive_copies
    ]
