"""open311 api keys; location indexes for duplicates and the public map

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29

Models: callcenter/open311/models.py. Indexes on tickets (declared in Ticket.__table_args__):
- (category_code, lat, lon): the duplicate search (one category, a latitude band around the
  point) and the map filtered by category;
- partial (id) over open confirmed tickets: the whole-city map, newest first, stops at its limit;
- partial (lat, lon) over the same tickets: the map zoomed in to a few streets.
Plain CREATE INDEX (no batch): a batch would copy the whole tickets table on SQLite.
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# Open, confirmed tickets: what the public map shows. The map's query repeats these literal
# values (callcenter/portal/publicmap.py), which is how both databases match a partial index.
_OPEN_SQLITE = "status IN ('dispatched', 'done', 'in_progress', 'new') AND is_draft = 0"
_OPEN_POSTGRESQL = "status IN ('dispatched', 'done', 'in_progress', 'new') AND is_draft = false"


def upgrade() -> None:
    op.create_table(
        "open311_api_keys",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("key_prefix", sa.String(length=12), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_open311_api_keys")),
        sa.UniqueConstraint("name", name=op.f("uq_open311_api_keys_name")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_open311_api_keys_key_hash")),
    )
    op.create_index("ix_tickets_category_lat_lon", "tickets", ["category_code", "lat", "lon"], unique=False)
    op.create_index(
        "ix_tickets_open_map",
        "tickets",
        ["id"],
        unique=False,
        sqlite_where=sa.text(_OPEN_SQLITE),
        postgresql_where=sa.text(_OPEN_POSTGRESQL),
    )
    op.create_index(
        "ix_tickets_open_lat_lon",
        "tickets",
        ["lat", "lon"],
        unique=False,
        sqlite_where=sa.text(_OPEN_SQLITE),
        postgresql_where=sa.text(_OPEN_POSTGRESQL),
    )


def downgrade() -> None:
    op.drop_index("ix_tickets_open_lat_lon", table_name="tickets")
    op.drop_index("ix_tickets_open_map", table_name="tickets")
    op.drop_index("ix_tickets_category_lat_lon", table_name="tickets")
    op.drop_table("open311_api_keys")
