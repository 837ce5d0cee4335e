"""BagIt manifests read and written by the ``bagit`` library, never parsed by hand.

A manifest line is ``<checksum>  <path>`` with a newline in a path written as ``%0A`` and a
carriage return as ``%0D``; names may hold spaces and ``%``. ``bagit.Bag`` reads manifests
(decoding names, refusing paths that leave the bag), so every reader here goes through it.

A new metadata version changes a few payload files of a bag whose pixel data can be large.
``Bag.save(manifests=True)`` would re-hash every payload byte for that, and would record the
checksum of a payload file that went bad since the last audit as the new truth (bagit's own
docstring warns of this). :func:`write_tag_files` instead starts from the entries bagit read,
changes those of the new files, and writes the manifest (names encoded by bagit's own
encoder) and ``bag-info.txt`` (bagit's tag-file writer) and the tag manifest into a staging
folder (the commit protocol of
:mod:`targets.versions` moves them into the bag last).
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Callable
from pathlib import Path

import bagit

from core.errors import TargetError

__all__ = ["TAG_FILES", "bag_entries", "payload_entries", "stored_entries", "write_tag_files"]

ALGORITHM = "sha256"
MANIFEST = f"manifest-{ALGORITHM}.txt"
TAGMANIFEST = f"tagmanifest-{ALGORITHM}.txt"
TAG_FILES = ("bagit.txt", "bag-info.txt", MANIFEST, TAGMANIFEST)


def _open(bag: Path) -> bagit.Bag:
    try:
        return bagit.Bag(str(bag))
    except (bagit.BagError, OSError, UnicodeDecodeError) as exc:
        raise TargetError(
            f"the bag's manifests cannot be read ({exc})",
            where=bag,
            hint="run `fairway verify` on it, and `fairway repair` to restore it",
        ) from exc


def _sha256(entries: dict[str, dict[str, str]]) -> dict[str, str]:
    return {rel: hashes[ALGORITHM] for rel, hashes in entries.items() if ALGORITHM in hashes}


def bag_entries(bag: Path) -> dict[str, str]:
    """Every file the bag's manifest and tag manifest list (decoded path -> sha256).

    Raises
    ------
    TargetError
        The manifests cannot be read, or list a path outside the bag.
    """
    return _sha256(_open(bag).entries)


def payload_entries(bag: Path) -> dict[str, str]:
    """The payload files the bag's manifest lists (decoded ``data/...`` path -> sha256)."""
    return _sha256(_open(bag).payload_entries())


def stored_entries(read: Callable[[str], bytes | None], where: str) -> dict[str, str]:
    """:func:`bag_entries` of a bag in an object store, whose tag files ``read`` returns.

    The tag files are put in a temporary folder so that bagit reads them as it reads any bag.
    A missing ``bagit.txt`` is stood in for (the tag manifest then reports it missing).
    """
    with tempfile.TemporaryDirectory(prefix="fairway-tags-") as tmp:
        for name in TAG_FILES:
            data = read(name)
            if data is None and name == "bagit.txt":
                data = b"BagIt-Version: 0.97\nTag-File-Character-Encoding: UTF-8\n"
            if data is not None:
                (Path(tmp) / name).write_bytes(data)
        try:
            return bag_entries(Path(tmp))
        except TargetError as exc:
            problem = exc.problem.replace(f"{tmp}/", "").replace(tmp, where)
            raise TargetError(problem, where=where, hint=exc.hint) from exc


def write_tag_files(bag: Path, dest: Path, changed: dict[str, bytes]) -> None:
    """Write into ``dest`` the tag files ``bag`` has once its payload files ``changed`` are in.

    ``changed`` maps payload paths (``data/...``) to their new content. The manifest keeps
    every other entry as bagit read it; ``Payload-Oxum`` follows the new sizes and count.
    """
    current = _open(bag)
    entries = _sha256(current.payload_entries())
    old_bytes = sum((bag / rel).stat().st_size for rel in changed if (bag / rel).is_file())
    for rel, content in changed.items():
        entries[rel] = hashlib.sha256(content).hexdigest()
    dest.mkdir(parents=True, exist_ok=True)
    with (dest / MANIFEST).open("w", encoding=current.encoding) as fh:
        for rel, digest in sorted(entries.items()):
            fh.write(f"{digest}  {bagit._encode_filename(rel)}\n")  # bagit's own encoding
    info = dict(current.info)
    oxum = str(info.get("Payload-Oxum", ""))
    if oxum:
        total = int(oxum.split(".")[0]) + sum(len(c) for c in changed.values()) - old_bytes
        info["Payload-Oxum"] = f"{total}.{len(entries)}"
    bagit._make_tag_file(str(dest / "bag-info.txt"), info)
    # the tag manifest lists three fixed names (nothing to encode); bagit's own writer finds
    # tag files relative to the working directory (its callers chdir), so it is not used here
    tags = {name: (dest / name).read_bytes() for name in ("bag-info.txt", MANIFEST)}
    tags["bagit.txt"] = (bag / "bagit.txt").read_bytes()
    with (dest / TAGMANIFEST).open("w", encoding=current.encoding) as fh:
        for name, content in sorted(tags.items()):
            fh.write(f"{hashlib.sha256(content).hexdigest()}  {name}\n")
