"""Search index of archived datasets: full text (SQLite FTS5 / PostgreSQL tsvector) + facets.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "search_index",
        sa.Column("dataset", sa.String(64), primary_key=True),
        sa.Column("acquisition_id", sa.String(32), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("organism", sa.Text(), nullable=False),
        sa.Column("method", sa.Text(), nullable=False),
        sa.Column("instrument", sa.Text(), nullable=False),
        sa.Column("study", sa.Text(), nullable=False),
        sa.Column("acquired", sa.String(32), nullable=False),
        sa.Column("fair_rank", sa.Integer(), nullable=False),
        sa.Column("fair_level", sa.String(32), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_search_index_acquired", "search_index", ["acquired"])
    op.create_index("ix_search_index_fair_rank", "search_index", ["fair_rank"])
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute(
            "CREATE VIRTUAL TABLE search_fts USING fts5("
            "dataset UNINDEXED, body, tokenize='porter unicode61')"
        )
    elif dialect == "postgresql":
        op.execute(
            "ALTER TABLE search_index ADD COLUMN body_tsv tsvector GENERATED ALWAYS AS "
            "(to_tsvector('english', body)) STORED"
        )
        op.execute("CREATE INDEX ix_search_index_body_tsv ON search_index USING GIN (body_tsv)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE IF EXISTS search_fts")
    op.drop_table("search_index")
