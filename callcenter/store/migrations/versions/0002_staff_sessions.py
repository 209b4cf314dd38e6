"""staff sessions and failed logins

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30

Models: callcenter/accounts/models.py. Also indexes the staff pages need on shared tables:
- tickets (created_at, channel, status, category, department): the supervisors' board
  aggregates a bounded date range from the index alone;
- tickets (duplicate_of_id): the ticket page lists a ticket's duplicates (a full scan
  at a million tickets: 180 ms a page);
- calls (ticket_id): the ticket page lists the calls linked to it.
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "staff_sessions",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", _ID, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("user_agent", sa.String(length=300), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_staff_sessions_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_staff_sessions_token_hash")),
    )
    op.create_index("ix_staff_sessions_user", "staff_sessions", ["user_id"], unique=False)
    op.create_table(
        "login_failures",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("login", sa.String(length=64), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_failures")),
    )
    op.create_index("ix_login_failures_login_at", "login_failures", ["login", "at"], unique=False)
    op.create_index("ix_login_failures_address_at", "login_failures", ["address", "at"], unique=False)
    # Plain CREATE INDEX (no batch): a batch would copy the whole tickets table on SQLite.
    op.create_index(
        "ix_tickets_created_stats",
        "tickets",
        ["created_at", "channel", "status", "category_code", "department_code"],
        unique=False,
    )
    op.create_index("ix_tickets_duplicate_of", "tickets", ["duplicate_of_id"], unique=False)
    op.create_index("ix_calls_ticket", "calls", ["ticket_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_calls_ticket", table_name="calls")
    op.drop_index("ix_tickets_duplicate_of", table_name="tickets")
    op.drop_index("ix_tickets_created_stats", table_name="tickets")
    op.drop_index("ix_login_failures_address_at", table_name="login_failures")
    op.drop_index("ix_login_failures_login_at", table_name="login_failures")
    op.drop_table("login_failures")
    op.drop_index("ix_staff_sessions_user", table_name="staff_sessions")
    op.drop_table("staff_sessions")
