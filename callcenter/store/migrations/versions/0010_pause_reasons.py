"""Pause reasons for operators (the wallboard feature), with a starting list

Revision ID: 0010
Revises: 0007
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0007"
branch_labels = None
depends_on = None

DEFAULT_REASONS = ("Обед", "Обучение", "Работа с документами", "Технический перерыв")


def upgrade() -> None:
    table = op.create_table(
        "pause_reasons",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("label", sa.String(60), nullable=False, unique=True),
        sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column("position", sa.Integer(), nullable=False, server_default="0"),
    )
    op.bulk_insert(table, [{"label": label, "active": True, "position": i} for i, label in enumerate(DEFAULT_REASONS)])
    # (callcenter/wallboard/reasons.py puts the same list back into an empty table)


def downgrade() -> None:
    op.drop_table("pause_reasons")
