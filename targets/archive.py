"""Local (folder or NAS) archive of datasets as BagIt bags holding an RO-Crate.

Commit protocol: the bag is assembled in ``<archive>/.staging/<dataset>.<token>``, every payload
checksum is re-read from disk and compared (``bagit`` full validation), the tree is fsync'd,
and the folder is renamed to ``<archive>/<dataset>``, the final name, last. A dataset folder
therefore either does not exist or is complete and verified. Publishing the same dataset twice
finds the committed bag, verifies it and returns it: one acquisition, one archived object.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import bagit

from core.errors import FinalError, TargetError
from core.failpoints import failpoint
from core.files import file_digest, fsync_dir, fsync_tree
from core.records import ArchivedDataset, Finding, Severity

__all__ = ["ArchiveConflictError", "LocalArchive", "bag_findings"]

log = logging.getLogger(__name__)


class ArchiveConflictError(FinalError):
    """A dataset folder exists under the final name but is not a valid bag."""


def bag_findings(path: Path, *, processes: int = 1) -> list[Finding]:
    """Re-read every file of a bag and report each problem as a finding.

    Problems: a checksum that does not match, a file listed but missing, a file present but
    not listed. Never raises on findings.
    """

    def finding(where: str, message: str) -> Finding:
        return Finding(
            path=where,
            module="fixity",
            level="required",
            severity=Severity.ERROR,
            message=message,
            fix_hint="restore the dataset from another copy (fairway repair)",
            check="fixity",
        )

    try:
        bag = bagit.Bag(str(path))
        only_listed, only_present = bag.compare_manifests_with_fs()
    except (bagit.BagError, OSError) as exc:
        return [finding(str(path), f"not a readable bag: {exc}")]
    out = [
        finding(rel, f"{rel}: listed in the manifest but missing") for rel in sorted(only_listed)
    ]
    out += [finding(rel, f"{rel}: present but not in the manifest") for rel in sorted(only_present)]
    missing = set(only_listed)

    def check(rel: str, hashes: dict[str, str]) -> Finding | None:
        if rel in missing:
            return None
        algorithm, expected = next(
            ((a, h) for a, h in hashes.items() if a == "sha256"), next(iter(hashes.items()))
        )
        actual = file_digest(path / rel, algorithm)
        if actual != expected:
            return finding(
                rel, f"{rel}: {algorithm} is {actual[:12]}…, manifest says {expected[:12]}…"
            )
        return None

    with ThreadPoolExecutor(max_workers=max(1, processes)) as pool:
        results = pool.map(lambda item: check(*item), sorted(bag.entries.items()))
        out += [f for f in results if f is not None]
    return out


class LocalArchive:
    """Archive in a local or mounted folder."""

    name = "archive"

    def __init__(self, root: Path, *, processes: int = 1) -> None:
        self.root = Path(root)
        self.processes = processes

    @property
    def staging(self) -> Path:
        """Where bags are assembled before their commit."""
        return self.root / ".staging"

    def location(self, dataset: str) -> str:
        """Folder of a committed dataset."""
        return str(self.root / dataset)

    def exists(self, dataset: str) -> bool:
        """Whether the dataset is committed under its final name."""
        return (self.root / dataset).is_dir()

    def committed(self, dataset: str) -> ArchivedDataset:
        """Facts about a committed dataset (its manifest, file count and size)."""
        final = self.root / dataset
        manifest = final / "manifest-sha256.txt"
        lines = manifest.read_text(encoding="utf-8").splitlines()
        size = sum(p.stat().st_size for p in (final / "data").rglob("*") if p.is_file())
        return ArchivedDataset(
            dataset=dataset,
            location=str(final),
            payload_files=len(lines),
            payload_bytes=size,
            verified_at=datetime.now(UTC),
            manifest_sha256=hashlib.sha256(manifest.read_bytes()).hexdigest(),
        )

    def publish(self, dataset: str, payload: Path, bag_info: dict[str, str]) -> ArchivedDataset:
        """Move ``payload`` (a folder, consumed) into a verified bag named ``dataset``.

        Raises
        ------
        ArchiveConflictError
            A folder of that name exists and is not a valid bag.
        TargetError
            Writing or reading back failed; nothing appears under the final name.
        """
        final = self.root / dataset
        if final.exists():
            problems = bag_findings(final, processes=self.processes)
            if problems:
                raise ArchiveConflictError(
                    f"a dataset folder exists but does not verify ({problems[0].message})",
                    where=final,
                    hint="inspect it with `fairway verify`; fairway never overwrites an archive",
                )
            log.info("dataset %s already archived and verified; not written again", dataset)
            shutil.rmtree(payload, ignore_errors=True)
            return self.committed(dataset)
        self.staging.mkdir(parents=True, exist_ok=True)
        for stale in self.staging.glob(f"{dataset}.*"):
            shutil.rmtree(stale, ignore_errors=True)
        work = self.staging / f"{dataset}.{uuid.uuid4().hex[:8]}"
        try:
            shutil.move(str(payload), str(work))
            failpoint("bag")
            bagit.make_bag(
                str(work), bag_info=bag_info, checksums=["sha256"], processes=self.processes
            )
            failpoint("bag")
            problems = bag_findings(work, processes=self.processes)
            if problems:
                raise TargetError(
                    f"read-back verification failed: {problems[0].message}",
                    where=work,
                    hint="check the storage; the dataset was not committed and will be retried",
                )
            fsync_tree(work)
            failpoint("bag")
            work.rename(final)
            fsync_dir(self.root)
            failpoint("bag")
        except OSError as exc:
            shutil.rmtree(work, ignore_errors=True)
            raise TargetError(
                f"archiving failed: {exc}", where=final, hint="check free space and permissions"
            ) from exc
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
        return self.committed(dataset)

    def restore(self, dataset: str, good_bag: Path) -> ArchivedDataset:
        """Replace the committed dataset with an intact copy of it (``fairway repair``).

        The copy is assembled and fully verified in staging first; the damaged folder is
        swapped out by two renames and deleted, so the final name never holds a partial bag.

        Raises
        ------
        TargetError
            The intact copy does not verify either, or writing failed; nothing was replaced.
        """
        self.staging.mkdir(parents=True, exist_ok=True)
        token = uuid.uuid4().hex[:8]
        work = self.staging / f"{dataset}.{token}"
        final = self.root / dataset
        try:
            shutil.copytree(good_bag, work)
            problems = bag_findings(work, processes=self.processes)
            if problems:
                raise TargetError(
                    f"the copy to restore from does not verify: {problems[0].message}",
                    where=good_bag,
                    hint="restore from another copy",
                )
            fsync_tree(work)
            trash = self.root / f".trash-{dataset}.{token}"
            if final.exists():
                final.rename(trash)
            work.rename(final)
            fsync_dir(self.root)
            shutil.rmtree(trash, ignore_errors=True)
        except OSError as exc:
            shutil.rmtree(work, ignore_errors=True)
            raise TargetError(f"restoring failed: {exc}", where=final) from exc
        return self.committed(dataset)

    def sync(self, dataset: str, bag: Path) -> ArchivedDataset:
        """Make the committed dataset equal to the verified ``bag`` (commit or restore)."""
        if (self.root / dataset).resolve() == bag.resolve():
            return self.committed(dataset)
        return self.restore(dataset, bag)

    def fetch(self, dataset: str, dest: Path) -> Path:
        """Copy the committed bag to ``dest``.

        Raises
        ------
        TargetError
            The dataset is not committed here.
        """
        if not self.exists(dataset):
            raise TargetError(f"no committed {dataset}", where=self.root)
        shutil.copytree(self.root / dataset, dest)
        return dest

    def verify(self, dataset: str) -> list[Finding]:
        """Findings of a full fixity check of one archived dataset."""
        final = self.root / dataset
        if not final.is_dir():
            return [
                Finding(
                    path=str(final),
                    module="fixity",
                    level="required",
                    severity=Severity.ERROR,
                    message="archived dataset is missing",
                    fix_hint="restore it from another copy",
                    check="fixity",
                )
            ]
        return bag_findings(final, processes=self.processes)
