"""Initial catalog: acquisitions, deliveries, events, file hashes.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "acquisitions",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("dataset", sa.String(64), nullable=False, unique=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text()),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("fair_level", sa.String(32)),
        sa.Column("record", sa.JSON()),
        sa.Column("report", sa.JSON()),
        sa.Column("location", sa.Text()),
        sa.Column("claimed_by", sa.String(64)),
        sa.Column("claimed_at", sa.DateTime(timezone=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_acquisitions_fingerprint", "acquisitions", ["fingerprint"], unique=True)
    op.create_index("ix_acquisitions_state", "acquisitions", ["state"])
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "acquisition_id", sa.String(32), sa.ForeignKey("acquisitions.id"), nullable=False
        ),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("acquisition_id", "path"),
    )
    op.create_index("ix_deliveries_acquisition_id", "deliveries", ["acquisition_id"])
    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "acquisition_id", sa.String(32), sa.ForeignKey("acquisitions.id"), nullable=False
        ),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("step", sa.String(32), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("detail", sa.JSON()),
    )
    op.create_index("ix_events_acquisition_id", "events", ["acquisition_id"])
    op.create_table(
        "file_hashes",
        sa.Column("path", sa.Text(), primary_key=True),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("mtime_ns", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("file_hashes")
    op.drop_table("events")
    op.drop_table("deliveries")
    op.drop_table("acquisitions")
