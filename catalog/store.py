"""The catalog: state of every acquisition, deliveries, audit events, cached hashes.

SQLite (a file in the fairway home) by default, PostgreSQL by URL. The schema is created and
upgraded with Alembic migrations when the catalog is opened.

Exactly-once rests on the unique fingerprint: the first worker to insert a row owns the
acquisition (``claimed_by``); others see the row and either record one more delivery (the
acquisition is finished) or step aside (it is being processed). A claim older than the
timeout is taken over with a compare-and-set update, so a crashed worker's acquisition is
finished by the next one and never by two.
"""

from __future__ import annotations

import enum
import logging
import os
import re
import socket
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    IntegrityError,
    NoSuchModuleError,
    OperationalError,
)
from sqlalchemy.orm import Session, sessionmaker

from catalog.models import (
    AcquisitionRow,
    DeliveryRow,
    EventRow,
    FileHashRow,
    IngestRunRow,
    utcnow,
)
from catalog.search import SearchFilters, SearchHit, index_dataset, search_datasets, search_document
from core.errors import CatalogError, SettingsError, SourceChangedError
from core.files import locked
from core.records import Acquisition, MetadataRecord, SourceFile, State

__all__ = ["Catalog", "ClaimOutcome", "ClaimResult", "worker_id"]

log = logging.getLogger(__name__)


#: PostgreSQL advisory-lock key that serialises catalog migrations (any fixed number)
_MIGRATE_KEY = 0x6661697277617901
#: the reason (``Kind: message``) of an acquisition quarantined because a file changed while
#: it was read: nothing was archived, and the same content met again is claimed again
_TAKEN_AGAIN = f"{SourceChangedError.__name__}:"


def _start_ticks(pid: int) -> str | None:
    """When process ``pid`` started (clock ticks since boot, from /proc), or ``None``."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()  # the command name may hold spaces and ')'
    return fields[19] if len(fields) > 19 else None  # field 22 of stat(5): starttime


def _host() -> str:
    """The host name as worker ids carry it: cut so that an id fits ``claimed_by`` (64)."""
    return socket.gethostname()[:32]


def worker_id() -> str:
    """A name for this process that fences claims: ``host:pid:start:random``.

    ``start`` (when the process started, where /proc tells) tells this process from a later
    one that reuses its pid.
    """
    pid = os.getpid()
    start = _start_ticks(pid) or "0"
    return f"{_host()}:{pid}:{start}:{uuid.uuid4().hex[:8]}"


def holder_is_dead(claimed_by: str | None) -> bool:
    """Whether a claim's holder was a process on this host that no longer exists.

    A worker killed with -9 leaves its claim behind; on the same host a restart sees that
    the process is gone and takes the acquisition over at once instead of waiting for the
    claim timeout. Its pid may already belong to another process or thread (pids wrap at
    32768 on a default Linux): the holder is dead when no process with that pid *and start
    time* exists. Claims of other hosts (or of unknown form) are never judged here.
    """
    if not claimed_by:
        return False
    parts = claimed_by.split(":")
    if len(parts) not in (3, 4) or parts[0] != _host():
        return False
    if not parts[1].isdigit():
        return False
    pid = int(parts[1])
    if pid == os.getpid():
        return False
    if len(parts) == 4 and parts[2] != "0" and _start_ticks(os.getpid()) is not None:
        return _start_ticks(pid) != parts[2]
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class ClaimOutcome(enum.StrEnum):
    """What :meth:`Catalog.claim` decided."""

    NEW = "new"  # first sighting: this worker processes it
    RETAKEN = "retaken"  # a stale claim of a crashed worker: this worker finishes it
    DONE = "done"  # already in a terminal state: only a delivery is recorded
    BUSY = "busy"  # another live worker is processing it


@dataclass(frozen=True)
class ClaimResult:
    """Outcome of a claim and the state the acquisition has now."""

    outcome: ClaimOutcome
    state: State
    dataset: str

    @property
    def owned(self) -> bool:
        """Whether the caller must now process the acquisition."""
        return self.outcome in {ClaimOutcome.NEW, ClaimOutcome.RETAKEN}


def _head_revision() -> str | None:
    """The newest migration's revision id, read from the scripts (``None`` if not one head)."""
    revisions, parents = set(), set()
    for script in (resources.files("catalog") / "migrations" / "versions").iterdir():
        if not script.name.endswith(".py"):
            continue
        source = script.read_text(encoding="utf-8")
        if (rev := re.search(r'^revision = "([^"]+)"', source, re.M)) is None:
            continue
        revisions.add(rev.group(1))
        parents.update(re.findall(r'^down_revision = "([^"]+)"', source, re.M))
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _event(
    s: Session,
    acq_id: str,
    actor: str,
    step: str,
    action: str,
    detail: dict[str, Any] | None = None,
    *,
    at: datetime | None = None,
) -> None:
    s.add(
        EventRow(
            acquisition_id=acq_id,
            at=at or utcnow(),
            actor=actor,
            step=step,
            action=action,
            detail=detail,
        )
    )


def _index(s: Session, acq_id: str, record: dict[str, Any], fair_level: str | None) -> None:
    row = s.get(AcquisitionRow, acq_id)
    if row is None:
        return
    fields = MetadataRecord.model_validate(
        {"fields": record.get("fields", {}), "ome_xml": "", "ome_xml_origin": "generated"}
    )
    doc = search_document(fields, row.dataset, fair_level or "none")
    index_dataset(s, acq_id, doc)


def _cause(exc: OperationalError, password: str | None) -> str:
    """The database's own reason, on one line, without the password."""
    text_ = " ".join(str(exc.orig or exc).split()) or type(exc.orig).__name__
    return text_.replace(password, "***") if password else text_


def _engine(url: str) -> Engine:
    """An engine for ``url``; a URL SQLAlchemy cannot use is a settings error, said plainly.

    Raises
    ------
    SettingsError
        Not a URL, or a database driver that is not installed or does not exist.
    """
    hint = "check FAIRWAY_DATABASE_URL (sqlite:///PATH or postgresql+psycopg://USER@HOST/DB)"
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise SettingsError("the catalog setting is not a database URL", hint=hint) from None
    where = parsed.render_as_string(hide_password=True)
    try:
        return create_engine(parsed, future=True, pool_pre_ping=True)
    except NoSuchModuleError:
        raise SettingsError(
            f"unknown database driver '{parsed.drivername}'", where=where, hint=hint
        ) from None
    except ImportError as exc:
        raise SettingsError(
            f"the driver of '{parsed.drivername}' is not installed ({exc.name or exc})",
            where=where,
            hint="install it (PostgreSQL: pip install 'fairway[postgres]'), or " + hint,
        ) from None


class Catalog:
    """Access to the catalog database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def open(cls, url: str, *, migrate: bool = True) -> Catalog:
        """Connect to ``url`` and bring its schema up to date.

        Raises
        ------
        CatalogError
            The database cannot be reached or migrated (message without credentials).
        SettingsError
            ``url`` is not a database URL, or names an unknown driver.
        """
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = _engine(url)
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", _sqlite_pragmas)
        catalog = cls(engine)
        if migrate:
            catalog.migrate()
        return catalog

    def migrate(self) -> None:
        """Apply every pending Alembic migration, one process at a time.

        Workers started together on a fresh catalog would otherwise all create its tables and
        all but one fail: SQLite takes a lock file beside the database, PostgreSQL an
        advisory lock held for the migration's transaction. A catalog already at the newest
        revision (the usual case) is only read: Alembic is not even imported (it costs a
        quarter of a second or more of every command).
        """
        if self._at_head():
            return
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(resources.files("catalog") / "migrations"))
        try:
            with self._migration_lock(), self.engine.begin() as conn:
                if conn.dialect.name == "postgresql":
                    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATE_KEY})
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
        except OperationalError as exc:
            raise CatalogError(
                f"cannot open or migrate the catalog: {_cause(exc, self.engine.url.password)}",
                where=self.engine.url.render_as_string(hide_password=True),
                hint="check FAIRWAY_DATABASE_URL and that the database server is running",
            ) from exc

    def _at_head(self) -> bool:
        head = _head_revision()
        if head is None:
            return False
        try:
            with self.engine.connect() as conn:
                current = conn.execute(text("SELECT version_num FROM alembic_version")).all()
        except DBAPIError:  # no catalog yet, or not reachable: the migration says which
            return False
        return [tuple(r) for r in current] == [(head,)]

    @contextmanager
    def _migration_lock(self) -> Iterator[None]:
        database = self.engine.url.database
        if self.engine.dialect.name != "sqlite" or not database or database == ":memory:":
            yield
            return
        with locked(Path(f"{database}.migrate.lock")):
            yield

    def close(self) -> None:
        """Release connections."""
        self.engine.dispose()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in a transaction, committed on success."""
        with self._sessions.begin() as s:
            yield s

    # -- claims and states -------------------------------------------------------------------

    def claim(
        self, acq: Acquisition, worker: str, *, timeout: timedelta = timedelta(hours=6)
    ) -> ClaimResult:
        """Take ownership of ``acq`` unless it is finished or someone else is on it."""
        now = utcnow()
        try:
            with self.session() as s:
                s.add(
                    AcquisitionRow(
                        id=acq.id,
                        fingerprint=acq.fingerprint,
                        dataset=acq.dataset_id,
                        state=State.PROCESSING.value,
                        source=str(acq.source),
                        kind=acq.kind,
                        claimed_by=worker,
                        claimed_at=now,
                        created_at=now,
                        updated_at=now,
                    )
                )
                s.add(DeliveryRow(acquisition_id=acq.id, path=str(acq.source), seen_at=now))
                _event(s, acq.id, worker, "ingest", "claimed", {"source": str(acq.source)}, at=now)
            return ClaimResult(ClaimOutcome.NEW, State.PROCESSING, acq.dataset_id)
        except IntegrityError:
            pass
        with self.session() as s:
            row = s.scalars(
                select(AcquisitionRow).where(AcquisitionRow.fingerprint == acq.fingerprint)
            ).one()
            self._add_delivery(s, row.id, acq.source, now)
            state = State(row.state)
            if state is State.QUARANTINED and (row.reason or "").startswith(_TAKEN_AGAIN):
                return self._retake_changed(s, row, worker, now)
            if state.terminal:
                return ClaimResult(ClaimOutcome.DONE, state, row.dataset)
            claimed_at = row.claimed_at
            if claimed_at is not None and claimed_at.tzinfo is None:
                claimed_at = claimed_at.replace(tzinfo=now.tzinfo)
            fresh = claimed_at is not None and now - claimed_at < timeout
            if fresh and not holder_is_dead(row.claimed_by):
                return ClaimResult(ClaimOutcome.BUSY, state, row.dataset)
            previous = row.claimed_by
            taken = s.execute(  # type: ignore[attr-defined]
                update(AcquisitionRow)
                .where(
                    AcquisitionRow.id == row.id,
                    AcquisitionRow.claimed_by == previous,
                    AcquisitionRow.state == State.PROCESSING.value,
                )
                .values(claimed_by=worker, claimed_at=now, updated_at=now)
            ).rowcount
            if taken != 1:
                return ClaimResult(ClaimOutcome.BUSY, state, row.dataset)
            _event(s, row.id, worker, "ingest", "retaken", {"previous_worker": previous}, at=now)
            return ClaimResult(ClaimOutcome.RETAKEN, state, row.dataset)

    @staticmethod
    def _retake_changed(s: Session, row: AcquisitionRow, worker: str, now: datetime) -> ClaimResult:
        """Claim again an acquisition quarantined because a file changed while it was read."""
        taken = s.execute(  # type: ignore[attr-defined]
            update(AcquisitionRow)
            .where(AcquisitionRow.id == row.id, AcquisitionRow.state == State.QUARANTINED.value)
            .values(
                state=State.PROCESSING.value,
                reason=None,
                claimed_by=worker,
                claimed_at=now,
                updated_at=now,
            )
        ).rowcount
        if taken != 1:
            return ClaimResult(ClaimOutcome.BUSY, State(row.state), row.dataset)
        _event(s, row.id, worker, "ingest", "retaken", {"previous_reason": row.reason}, at=now)
        return ClaimResult(ClaimOutcome.RETAKEN, State.PROCESSING, row.dataset)

    @staticmethod
    def _add_delivery(s: Session, acq_id: str, path: Path, now: datetime) -> None:
        exists = s.scalar(
            select(DeliveryRow.id).where(
                DeliveryRow.acquisition_id == acq_id, DeliveryRow.path == str(path)
            )
        )
        if exists is None:
            s.add(DeliveryRow(acquisition_id=acq_id, path=str(path), seen_at=now))
            _event(s, acq_id, "scanner", "ingest", "delivery", {"source": str(path)}, at=now)

    def finish(
        self,
        acq_id: str,
        worker: str,
        state: State,
        *,
        reason: str | None = None,
        record: dict[str, Any] | None = None,
        report: dict[str, Any] | None = None,
        fair_level: str | None = None,
        location: str | None = None,
    ) -> None:
        """Move an owned acquisition to a terminal state (fenced by ``worker``).

        Raises
        ------
        CatalogError
            The claim was lost to another worker; nothing was changed.
        """
        if not state.terminal:
            raise ValueError(f"{state} is not terminal")
        now = utcnow()
        with self.session() as s:
            changed = s.execute(  # type: ignore[attr-defined]
                update(AcquisitionRow)
                .where(
                    AcquisitionRow.id == acq_id,
                    AcquisitionRow.claimed_by == worker,
                    AcquisitionRow.state == State.PROCESSING.value,
                )
                .values(
                    state=state.value,
                    reason=reason,
                    record=record,
                    report=report,
                    fair_level=fair_level,
                    location=location,
                    updated_at=now,
                )
            ).rowcount
            if changed != 1:
                raise CatalogError(
                    "the claim on this acquisition was taken over by another worker",
                    where=acq_id,
                    hint="nothing to do: the other worker finishes it",
                )
            _event(
                s,
                acq_id,
                worker,
                "ingest",
                state.value,
                {"reason": reason} if reason else None,
                at=now,
            )
            if state is State.ARCHIVED and record is not None:
                _index(s, acq_id, record, fair_level)

    def release(self, acq_id: str, actor: str, reason: str) -> None:
        """Put a quarantined acquisition back in line for the next ingest that meets it.

        Its old claim counts as stale, so the next ingest claims it again. This is for
        causes that pass (a full disk, a copy that was unreachable); a damaged input is
        only quarantined again.
        """
        now = utcnow()
        with self.session() as s:
            row = s.get(AcquisitionRow, acq_id)
            if row is None:
                raise CatalogError("no such acquisition", where=acq_id)
            if row.state != State.QUARANTINED.value:
                raise CatalogError(
                    f"only a quarantined acquisition can be retried, not {row.state}",
                    where=row.dataset,
                )
            previous = row.reason
            row.state, row.claimed_by, row.claimed_at, row.updated_at = (
                State.PROCESSING.value,
                "released",
                datetime(1970, 1, 1, tzinfo=now.tzinfo),
                now,
            )
            _event(
                s,
                acq_id,
                actor,
                "retry",
                "released",
                {"previous_reason": previous, "reason": reason},
                at=now,
            )

    def reinstate(
        self,
        acq_id: str,
        actor: str,
        *,
        record: dict[str, Any],
        report: dict[str, Any],
        fair_level: str,
        location: str,
        detail: dict[str, Any],
    ) -> None:
        """Mark an acquisition archived after a repair completed what its ingest could not.

        Only an acquisition quarantined for a storage failure is reinstated (the repair
        found its primary bag intact and brought every copy up to it).
        """
        now = utcnow()
        with self.session() as s:
            row = s.get(AcquisitionRow, acq_id)
            if row is None:
                raise CatalogError("no such acquisition", where=acq_id)
            row.state, row.reason, row.location, row.updated_at = (
                State.ARCHIVED.value,
                None,
                location,
                now,
            )
            row.record, row.report, row.fair_level = record, report, fair_level
            _event(s, acq_id, actor, "repair", "archived", detail, at=now)
            _index(s, acq_id, record, fair_level)

    def curate(
        self,
        acq_id: str,
        actor: str,
        reason: str,
        changes: list[dict[str, Any]],
        *,
        record: dict[str, Any],
        report: dict[str, Any],
        fair_level: str,
        metadata_version: int | None = None,
    ) -> None:
        """Store a curated record and its new validation, with one audit event per change.

        Every event says who (``actor``), when, which field, the old and new value and why;
        a last event records the re-validation and the FAIR level before and after.
        """
        now = utcnow()
        with self.session() as s:
            row = s.get(AcquisitionRow, acq_id)
            if row is None:
                raise CatalogError("no such acquisition", where=acq_id)
            before = row.fair_level
            row.record, row.report, row.fair_level, row.updated_at = record, report, fair_level, now
            _index(s, acq_id, record, fair_level)
            for change in changes:
                _event(s, acq_id, actor, "curate", "fix", {**change, "reason": reason}, at=now)
            _event(
                s,
                acq_id,
                actor,
                "curate",
                "revalidate",
                {
                    "fair_level_before": before,
                    "fair_level": fair_level,
                    "reason": reason,
                    "metadata_version": metadata_version,
                },
                at=now,
            )

    def search(
        self, query: str, filters: SearchFilters | None = None, limit: int = 50
    ) -> list[SearchHit]:
        """Archived datasets matching ``query`` (full text) and ``filters``, best first."""
        with self.session() as s:
            return search_datasets(s, query, filters or SearchFilters(), limit)

    def event(
        self, acq_id: str, actor: str, step: str, action: str, detail: dict[str, Any] | None = None
    ) -> None:
        """Append an audit event."""
        with self.session() as s:
            _event(s, acq_id, actor, step, action, detail, at=utcnow())

    def record_run(
        self,
        worker: str,
        sources: list[str],
        counts: dict[str, int],
        *,
        seconds: float,
        orchestrator: str,
    ) -> None:
        """Record one finished ingest run and the counts of its outcomes."""
        with self.session() as s:
            s.add(
                IngestRunRow(
                    finished_at=utcnow(),
                    worker=worker,
                    orchestrator=orchestrator,
                    sources=sources,
                    counts=counts,
                    seconds=seconds,
                )
            )

    def runs(self, limit: int = 20) -> list[IngestRunRow]:
        """The latest ingest runs, newest first."""
        with self.session() as s:
            q = select(IngestRunRow).order_by(IngestRunRow.id.desc()).limit(limit)
            return list(s.scalars(q))

    # -- hash cache --------------------------------------------------------------------------

    def known_hash(self, path: Path, size: int, mtime_ns: int) -> str | None:
        """A hash computed before for this exact path, size and mtime."""
        with self.session() as s:
            row = s.get(FileHashRow, str(path))
            if row is not None and row.size == size and row.mtime_ns == mtime_ns:
                return row.sha256
            return None

    def remember_hashes(self, files: Iterable[SourceFile]) -> None:
        """Store the hashes of files just read (an upsert: two workers may hash one file)."""
        rows = [
            {"path": str(f.path), "size": f.size, "mtime_ns": f.mtime_ns, "sha256": f.sha256}
            for f in files
        ]
        if not rows:
            return
        dialect = self.engine.dialect.name
        if dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert as upsert
        elif dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as upsert  # type: ignore[assignment]
        else:  # pragma: no cover - the catalog runs on SQLite and PostgreSQL
            with self.session() as s:
                for row in rows:
                    s.merge(FileHashRow(**row))
            return
        stmt = upsert(FileHashRow).values(rows)
        stmt = stmt.on_conflict_do_update(
            index_elements=[FileHashRow.path],
            set_={k: stmt.excluded[k] for k in ("size", "mtime_ns", "sha256")},
        )
        with self.session() as s:
            s.execute(stmt)

    # -- queries -----------------------------------------------------------------------------

    def acquisitions(self, state: State | None = None) -> list[AcquisitionRow]:
        """Every acquisition, oldest first."""
        with self.session() as s:
            q = select(AcquisitionRow).order_by(AcquisitionRow.created_at, AcquisitionRow.id)
            if state is not None:
                q = q.where(AcquisitionRow.state == state.value)
            return list(s.scalars(q))

    def find(self, key: str) -> AcquisitionRow | None:
        """Look an acquisition up by dataset id, acquisition id or fingerprint (prefix)."""
        with self.session() as s:
            for column in (AcquisitionRow.dataset, AcquisitionRow.id, AcquisitionRow.fingerprint):
                row = s.scalars(select(AcquisitionRow).where(column == key)).first()
                if row is not None:
                    return row
            if len(key) >= 8:
                rows = list(
                    s.scalars(
                        select(AcquisitionRow).where(AcquisitionRow.fingerprint.startswith(key))
                    ).all()
                )
                if len(rows) == 1:
                    return rows[0]
            return None

    def events(self, acq_id: str) -> list[EventRow]:
        """Audit events of one acquisition, oldest first."""
        with self.session() as s:
            return list(
                s.scalars(
                    select(EventRow).where(EventRow.acquisition_id == acq_id).order_by(EventRow.id)
                )
            )

    def deliveries(self, acq_id: str) -> list[DeliveryRow]:
        """Every path this acquisition was delivered under."""
        with self.session() as s:
            return list(
                s.scalars(
                    select(DeliveryRow)
                    .where(DeliveryRow.acquisition_id == acq_id)
                    .order_by(DeliveryRow.id)
                )
            )
