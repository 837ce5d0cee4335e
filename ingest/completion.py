"""Decide whether a candidate acquisition is finished, and fingerprint it by content."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from core.errors import IncompleteAcquisitionError, SourceChangedError, UnreadableInputError
from core.failpoints import failpoint
from core.files import sha256_file
from core.records import Acquisition, PendingAcquisition, SourceFile
from ingest.dicom import DICOM_KIND
from ingest.scan import Candidate

__all__ = ["CompletionPolicy", "KnownHash", "check_unchanged", "fingerprint", "split_complete"]

#: look-up of a hash already computed for (path, size, mtime_ns), e.g. from the catalog
KnownHash = Callable[[Path, int, int], str | None]


@dataclass(frozen=True)
class CompletionPolicy:
    """When an acquisition counts as finished.

    quiet_seconds
        Every file's size and mtime must be older than this window.
    sentinel
        If set, the folder must also hold a file of this name (written last by the
        instrument or its transfer script).
    stale_seconds
        A multi-file set still missing referenced files this long after its last file
        changed is handed to the reader, which refuses it with the reason (a terminal state
        instead of waiting for ever).
    """

    quiet_seconds: float = 30.0
    sentinel: str | None = None
    #: files a multi-file set references that have not come in this long never will
    stale_seconds: float = 24 * 3600.0

    def pending_reason(self, cand: Candidate, now: float) -> str | None:
        """Return why ``cand`` is not complete yet, or ``None`` if it is."""
        if not cand.files:
            return "no files yet"
        newest = max(f.mtime_ns for f in cand.files) / 1e9
        if cand.missing and now - newest < self.stale_seconds:
            return (
                f"waiting for {len(cand.missing)} referenced file(s): {', '.join(cand.missing[:5])}"
            )
        # referenced files that never came: let the reader refuse it with the reason, so it
        # reaches a terminal state instead of waiting for ever
        if cand.in_progress_markers:
            return f"transfer marker present: {', '.join(cand.in_progress_markers)}"
        if self.sentinel is not None and not cand.folder_has_sentinel:
            return f"waiting for sentinel file {self.sentinel!r}"
        age = now - newest
        if age < self.quiet_seconds:
            return f"modified {max(age, 0.0):.1f} s ago (quiet window {self.quiet_seconds:g} s)"
        return None


def split_complete(
    candidates: list[Candidate], policy: CompletionPolicy, now: float | None = None
) -> tuple[list[Candidate], list[PendingAcquisition]]:
    """Split candidates into complete ones and pending ones (with the reason)."""
    now = time.time() if now is None else now
    complete: list[Candidate] = []
    pending: list[PendingAcquisition] = []
    for cand in candidates:
        reason = policy.pending_reason(cand, now)
        if reason is None:
            complete.append(cand)
        else:
            pending.append(PendingAcquisition(source=cand.source, reason=reason))
    return complete, pending


def _hash_stable(sf: SourceFile, known: KnownHash | None) -> SourceFile:
    cached = known(sf.path, sf.size, sf.mtime_ns) if known else None
    if cached is not None:
        return sf.model_copy(update={"sha256": cached})
    digest = sha256_file(sf.path)
    if _moved(sf, sf.path.lstat()):
        raise IncompleteAcquisitionError(
            "file changed while it was read",
            where=sf.path,
            hint="it is still being written; it will be picked up on a later pass",
        )
    return sf.model_copy(update={"sha256": digest})


def fingerprint(cand: Candidate, known: KnownHash | None = None) -> Acquisition:
    """Hash every file and derive the acquisition's identity from content only.

    An acquisition whose files are all empty has no content identity: its place is added
    (see the comment in the body); it is refused as empty when its metadata is read.

    Raises
    ------
    IncompleteAcquisitionError
        If a file changed size or mtime while it was read.
    """
    try:
        failpoint("fingerprint")
        files = tuple(_hash_stable(f, known) for f in cand.files)
        sidecars = tuple(_hash_stable(f, known) for f in cand.sidecars)
    except FileNotFoundError as exc:
        raise IncompleteAcquisitionError(
            "file disappeared while it was read", where=exc.filename, hint="picked up next pass"
        ) from exc
    except OSError as exc:
        raise UnreadableInputError(
            f"cannot read the file ({exc.strerror or exc})",
            where=exc.filename or cand.source,
            hint="check permissions and the share; it is tried again on the next pass",
        ) from exc
    digest = hashlib.sha256(b"fairway-fingerprint-v1\n")
    for h in sorted(f.sha256 for f in files):
        digest.update(h.encode() + b"\n")
    if files and all(f.size == 0 for f in files):
        # every empty file has the same hash: with no content to tell it apart, an empty
        # acquisition is known by where it was found, so that each is refused on its own,
        # never as a duplicate of another (DICOM: by its derived name, never a file name)
        digest.update(f"empty:{cand.source}\n".encode())
    return Acquisition(
        fingerprint=digest.hexdigest(),
        source=cand.source,
        kind=cand.kind,
        files=files,
        sidecars=sidecars,
    )


def _moved(sf: SourceFile, st: os.stat_result) -> str | None:
    """What differs between ``sf`` as it was seen and the file's ``st`` now, if anything."""
    if sf.inode and st.st_ino != sf.inode:
        return "it was replaced by another file"
    if st.st_size != sf.size:
        return f"its size went from {sf.size} to {st.st_size} bytes"
    if st.st_mtime_ns != sf.mtime_ns:
        return "its modification time moved"
    return None


def check_unchanged(acq: Acquisition) -> None:
    """Prove that every file of ``acq`` still holds the content it was identified by.

    Called after the files were read (converted): each file's inode, size and modification
    time must be those seen when it was fingerprinted, and its content must hash to the same
    SHA-256 (read once more; a writer can put the modification time back, and some shares
    move it late). Together with the check that ended :func:`fingerprint`, this brackets the
    read: what was converted is what the acquisition's identity names.

    A file that no longer exists is not an error here: the readers opened it while it was
    there, and a file deleted mid-ingest behaves as before (archived from what was read, or
    refused by the reader that found it gone).

    Raises
    ------
    SourceChangedError
        A file changed; nothing may be archived under this identity. Retryable: once the file
        is quiet again it is identified anew.
    UnreadableInputError
        A file can no longer be read (permissions, I/O error).
    """
    for sf in (*acq.files, *acq.sidecars):
        # a scanner's DICOM file names can carry patient names: name the derived instance
        where = acq.source / sf.relpath if acq.kind == DICOM_KIND else sf.path
        try:
            why = _moved(sf, sf.path.lstat())
            if why is None and sf.sha256:
                if sha256_file(sf.path) != sf.sha256:
                    why = "its content no longer matches the hash it was identified by"
                else:
                    why = _moved(sf, sf.path.lstat())  # changed while it was hashed again
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise UnreadableInputError(
                f"cannot read the file again to check it ({exc.strerror or type(exc).__name__})",
                where=where,
                hint="check permissions and the share; it is tried again on the next pass",
            ) from exc
        if why is not None:
            raise SourceChangedError(
                f"changed while being ingested ({why}); nothing was archived",
                where=where,
                hint="it will be taken again when quiet",
            )
