"""incidents: known outages, their linked tickets, IVR announcements and utilities' API keys

Revision ID: 0009
Revises: 0007
Create Date: 2026-12-06

Models: callcenter/incidents/models.py.
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0012"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_AT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "incidents",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("category_code", sa.String(length=64), nullable=False),
        sa.Column("department_code", sa.String(length=64), nullable=True),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("public_text", sa.Text(), nullable=False),
        sa.Column("area", sa.JSON(), nullable=False),
        sa.Column("starts_at", _AT, nullable=False),
        sa.Column("expected_at", _AT, nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("master_ticket_id", _ID, nullable=True),
        sa.Column("recording", sa.String(length=120), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("external_ref", sa.String(length=120), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", _AT, nullable=False),
        sa.Column("updated_at", _AT, nullable=False),
        sa.Column("ended_at", _AT, nullable=True),
        sa.ForeignKeyConstraint(
            ["category_code"], ["categories.code"], name=op.f("fk_incidents_category_code_categories")
        ),
        sa.ForeignKeyConstraint(
            ["department_code"], ["departments.code"], name=op.f("fk_incidents_department_code_departments")
        ),
        sa.ForeignKeyConstraint(
            ["master_ticket_id"], ["tickets.id"], name=op.f("fk_incidents_master_ticket_id_tickets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incidents")),
    )
    op.create_index("ix_incidents_status_starts", "incidents", ["status", "starts_at"])
    op.create_table(
        "incident_tickets",
        sa.Column("incident_id", _ID, nullable=False),
        sa.Column("ticket_id", _ID, nullable=False),
        sa.Column("via", sa.String(length=16), nullable=False),
        sa.Column("created_at", _AT, nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name=op.f("fk_incident_tickets_incident_id_incidents")
        ),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], name=op.f("fk_incident_tickets_ticket_id_tickets")),
        sa.PrimaryKeyConstraint("incident_id", "ticket_id", name=op.f("pk_incident_tickets")),
    )
    op.create_index("ix_incident_tickets_ticket", "incident_tickets", ["ticket_id"])
    op.create_table(
        "incident_calls",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("incident_id", _ID, nullable=False),
        sa.Column("call_uniqueid", sa.String(length=64), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("how", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("at", _AT, nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name=op.f("fk_incident_calls_incident_id_incidents")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_calls")),
    )
    op.create_index("ix_incident_calls_incident", "incident_calls", ["incident_id", "at"])
    op.create_table(
        "incident_api_keys",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("department_code", sa.String(length=64), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("key_prefix", sa.String(length=12), nullable=False),
        sa.Column("created_at", _AT, nullable=False),
        sa.Column("revoked_at", _AT, nullable=True),
        sa.Column("last_used_at", _AT, nullable=True),
        sa.ForeignKeyConstraint(
            ["department_code"], ["departments.code"], name=op.f("fk_incident_api_keys_department_code_departments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_incident_api_keys_key_hash")),
    )


def downgrade() -> None:
    op.drop_table("incident_api_keys")
    op.drop_index("ix_incident_calls_incident", table_name="incident_calls")
    op.drop_table("incident_calls")
    op.drop_index("ix_incident_tickets_ticket", table_name="incident_tickets")
    op.drop_table("incident_tickets")
    op.drop_index("ix_incidents_status_starts", table_name="incidents")
    op.drop_table("incidents")
