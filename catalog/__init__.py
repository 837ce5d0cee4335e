"""The state store: acquisitions, deliveries, audit events (SQLAlchemy 2, SQLite/PostgreSQL)."""

from catalog.store import Catalog, ClaimOutcome, ClaimResult, worker_id

__all__ = ["Catalog", "ClaimOutcome", "ClaimResult", "worker_id"]
