"""The pseudonym store: the only place where de-identified DICOM can be linked back.

It holds the secret key pseudonyms are derived from and, for each pseudonym, the original
value. It is a database of its own (``pseudonym_store_url``; by default a SQLite file in
``<home>/phi/`` readable by its owner only), separate from the catalog, and never archived.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from sqlalchemy import String, create_engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from core.settings import Settings

__all__ = ["PseudonymStore"]


class _Base(DeclarativeBase):
    pass


class _Key(_Base):
    __tablename__ = "fairway_pseudonym_key"
    id: Mapped[int] = mapped_column(primary_key=True)
    key_hex: Mapped[str] = mapped_column(String(64))


class _Link(_Base):
    __tablename__ = "fairway_pseudonym_link"
    pseudonym: Mapped[str] = mapped_column(String(128), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    original: Mapped[str] = mapped_column(String(1024))


class PseudonymStore:
    """Key and links of the pseudonyms (see module docs)."""

    def __init__(self, url: str) -> None:
        if url.startswith("sqlite:///"):
            folder = Path(url.removeprefix("sqlite:///")).parent
            folder.mkdir(parents=True, exist_ok=True)
            os.chmod(folder, 0o700)
        self._engine = create_engine(url)
        _Base.metadata.create_all(self._engine)
        self._pending: dict[str, tuple[str, str]] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> PseudonymStore:
        """The store the settings name (default: ``<home>/phi/pseudonyms.sqlite``)."""
        return cls(settings.pseudonym_url)

    def key(self) -> bytes:
        """The secret key; made on first use (concurrent first uses agree on one)."""
        with Session(self._engine) as session:
            row = session.get(_Key, 1)
            if row is None:
                session.add(_Key(id=1, key_hex=secrets.token_hex(32)))
                try:
                    session.commit()
                except IntegrityError:  # another process made it first: use theirs
                    session.rollback()
                row = session.get(_Key, 1)
            assert row is not None
            return bytes.fromhex(row.key_hex)

    def record(self, kind: str, original: str, pseudonym: str) -> None:
        """Remember a link (written by :meth:`flush`)."""
        self._pending[pseudonym] = (kind, original)

    def flush(self) -> None:
        """Write the remembered links."""
        if not self._pending:
            return
        with Session(self._engine) as session:
            for pseudonym, (kind, original) in self._pending.items():
                session.merge(_Link(pseudonym=pseudonym, kind=kind, original=original))
            session.commit()
        self._pending.clear()

    def original(self, pseudonym: str) -> str | None:
        """The value behind ``pseudonym`` (for authorised re-identification only)."""
        with Session(self._engine) as session:
            row = session.scalar(select(_Link).where(_Link.pseudonym == pseudonym))
            return row.original if row else None

    def close(self) -> None:
        """Release the database connections."""
        self._engine.dispose()
