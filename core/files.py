"""File helpers shared by every stage: streaming hashes and durable writes."""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from core.errors import TargetError

__all__ = [
    "CHUNK",
    "building_folder",
    "file_digest",
    "fsync_dir",
    "fsync_tree",
    "locked",
    "sha256_file",
]

CHUNK = 4 * 1024 * 1024


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    """Return the hex digest of a file, read in chunks (bounded memory)."""
    digest = hashlib.new(algorithm)
    with path.open("rb") as fh:
        while block := fh.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def sha256_file(path: Path) -> str:
    """Return the hex SHA-256 of a file."""
    return file_digest(path, "sha256")


def fsync_dir(path: Path) -> None:
    """Flush a directory entry (after a rename into it)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(root: Path) -> None:
    """Flush every file and folder under ``root`` to stable storage."""
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            fd = os.open(Path(dirpath) / name, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fsync_dir(Path(dirpath))


@contextmanager
def building_folder(final: Path) -> Iterator[Path]:
    """A work folder beside ``final`` that becomes ``final`` only if the block succeeds.

    The block fills the yielded folder (``.<name>.partial``); on success it is fsync'd and
    renamed to ``final``, on any failure removed: nothing partial appears under the final
    name.

    Raises
    ------
    TargetError
        ``final`` exists already, or writing failed (OSError).
    """
    if final.exists():
        raise TargetError(
            "it exists already", where=final, hint="remove it or choose another folder"
        )
    work = final.with_name(f".{final.name}.partial")
    shutil.rmtree(work, ignore_errors=True)
    try:
        work.mkdir(parents=True)
        yield work
        fsync_tree(work)
        work.rename(final)
    except OSError as exc:
        shutil.rmtree(work, ignore_errors=True)
        raise TargetError(f"cannot write it: {exc}", where=final) from exc
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on the file ``path`` (created if missing) across processes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
