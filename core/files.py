"""File helpers shared by every stage: streaming hashes and durable writes."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

__all__ = ["CHUNK", "file_digest", "fsync_dir", "fsync_tree", "sha256_file"]

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
