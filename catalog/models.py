"""Tables of the catalog (SQLAlchemy 2 declarative). Schema changes go through migrations."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "AcquisitionRow",
    "Base",
    "DeliveryRow",
    "EventRow",
    "FileHashRow",
    "IngestRunRow",
    "SearchRow",
    "utcnow",
]


def utcnow() -> datetime:
    """Timezone-aware now, in UTC."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """Declarative base of the catalog tables."""


class AcquisitionRow(Base):
    """One acquisition = one row, whatever the number of deliveries (unique fingerprint)."""

    __tablename__ = "acquisitions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    dataset: Mapped[str] = mapped_column(String(64), unique=True)
    state: Mapped[str] = mapped_column(String(16), index=True)
    reason: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(32))
    fair_level: Mapped[str | None] = mapped_column(String(32))
    record: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    report: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    location: Mapped[str | None] = mapped_column(Text)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class DeliveryRow(Base):
    """Every place an acquisition's content was seen (re-deliveries, copies)."""

    __tablename__ = "deliveries"
    __table_args__ = (UniqueConstraint("acquisition_id", "path"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    acquisition_id: Mapped[str] = mapped_column(ForeignKey("acquisitions.id"), index=True)
    path: Mapped[str] = mapped_column(Text)
    seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class EventRow(Base):
    """Audit trail: one row per step and outcome."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    acquisition_id: Mapped[str] = mapped_column(ForeignKey("acquisitions.id"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    actor: Mapped[str] = mapped_column(String(128))
    step: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(32))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class IngestRunRow(Base):
    """One ingest run: the counts of its outcomes (``{"archived": 3, "pending": 1}``)."""

    __tablename__ = "ingest_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    finished_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    worker: Mapped[str] = mapped_column(String(128))
    orchestrator: Mapped[str] = mapped_column(String(32))  # "library" or "prefect"
    sources: Mapped[list[str]] = mapped_column(JSON)
    counts: Mapped[dict[str, int]] = mapped_column(JSON)
    seconds: Mapped[float] = mapped_column(Float)


class FileHashRow(Base):
    """Hashes already computed, keyed by path + size + mtime, so unchanged files are not re-read."""

    __tablename__ = "file_hashes"

    path: Mapped[str] = mapped_column(Text, primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    mtime_ns: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))


class SearchRow(Base):
    """What ``fairway search`` looks through: one row per archived dataset.

    The full text lives beside it (SQLite: the FTS5 table ``search_fts``; PostgreSQL: the
    generated ``body_tsv`` column), made by migration 0002.
    """

    __tablename__ = "search_index"

    dataset: Mapped[str] = mapped_column(String(64), primary_key=True)
    acquisition_id: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    organism: Mapped[str] = mapped_column(Text)
    method: Mapped[str] = mapped_column(Text)
    instrument: Mapped[str] = mapped_column(Text)
    study: Mapped[str] = mapped_column(Text)
    acquired: Mapped[str] = mapped_column(String(32), index=True)
    fair_rank: Mapped[int] = mapped_column(Integer, index=True)
    fair_level: Mapped[str] = mapped_column(String(32))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
