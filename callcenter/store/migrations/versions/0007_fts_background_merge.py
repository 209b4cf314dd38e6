"""SQLite: FTS5 segments are merged by the maintenance task, not inside ticket writes

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29

See callcenter/store/maintenance.py. FTS5's crisismerge (16 segments) still applies.
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("INSERT INTO tickets_fts(tickets_fts, rank) VALUES ('automerge', 0)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("INSERT INTO tickets_fts(tickets_fts, rank) VALUES ('automerge', 4)")
