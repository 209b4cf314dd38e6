"""Wallboard feature: pause reasons (with a starting list), duty contacts, escalations

Revision ID: 0010
Revises: 0007
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0011"
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

    op.create_table(
        "duty_contacts",
        sa.Column("department_code", sa.String(64), sa.ForeignKey("departments.code"), primary_key=True),
        sa.Column("duty_phone", sa.String(20)),
        sa.Column("duty_email", sa.String(200)),
        sa.Column("head_name", sa.String(200)),
        sa.Column("head_phone", sa.String(20)),
    )
    big_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "escalations",
        sa.Column("id", big_id, primary_key=True, autoincrement=True),
        sa.Column("ticket_id", big_id, sa.ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("stage_started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("state", sa.String(10), nullable=False, server_default="open"),
        sa.Column("next_at", sa.DateTime(timezone=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_note", sa.String(300)),
        sa.UniqueConstraint("ticket_id", "kind", "stage_started_at", name="uq_escalations_ticket_kind_stage"),
    )
    op.create_index("ix_escalations_state_next", "escalations", ["state", "next_at"])


def downgrade() -> None:
    op.drop_index("ix_escalations_state_next", table_name="escalations")
    op.drop_table("escalations")
    op.drop_table("duty_contacts")
    op.drop_table("pause_reasons")
