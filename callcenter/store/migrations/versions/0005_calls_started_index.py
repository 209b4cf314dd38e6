"""calls: index on started_at for the live board's recent calls

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30

The supervisors' board (/staff/calls) lists the last day's missed calls and whether each
caller was reached since; both read the recent calls by ``started_at``. The only
index so far starts with ``caller`` and cannot serve a date range, so without this one
every page load scans the whole history of calls.
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.create_index("ix_calls_started_at", ["started_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.drop_index("ix_calls_started_at")
