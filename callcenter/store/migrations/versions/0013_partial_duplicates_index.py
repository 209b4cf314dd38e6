"""Duplicates of a ticket through a partial index (only rows with ``duplicate_of_id`` set)

Revision ID: 0013
Revises: 0007
Create Date: 2026-12-06

Almost every ticket has ``duplicate_of_id`` NULL. The planners' statistics then see the full
index ``ix_tickets_duplicate_of`` as one value for every row: SQLite's ``sqlite_stat1`` says an
equality matches the whole table, and the ticket page's "duplicates of this ticket" lookup
scanned the table (52 ms at 100,000 tickets, about 200 ms at 1,000,000). A partial index of the
few rows that are duplicates is tiny, its statistics are right, and ``duplicate_of_id = ?``
implies the index's ``IS NOT NULL`` on both engines, so the lookup is an index seek. It
replaces the full index (it also serves the foreign key's checks).
"""

from alembic import op
from sqlalchemy import text

revision = "0013"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain CREATE INDEX (no batch): a batch would copy the whole tickets table on SQLite.
    op.create_index(
        "ix_tickets_duplicates",
        "tickets",
        ["duplicate_of_id"],
        unique=False,
        sqlite_where=text("duplicate_of_id IS NOT NULL"),
        postgresql_where=text("duplicate_of_id IS NOT NULL"),
    )
    op.drop_index("ix_tickets_duplicate_of", table_name="tickets")  # store/migrate.py runs ANALYZE after


def downgrade() -> None:
    op.create_index("ix_tickets_duplicate_of", "tickets", ["duplicate_of_id"], unique=False)
    op.drop_index("ix_tickets_duplicates", table_name="tickets")
