"""callback planning: call windows, done times, duplicate links, applied outcomes

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30

Columns the callback slice (callcenter/callbacks/) needs beyond 0001:

* callbacks.window_start / window_end: the local calling window of this callback in minutes
  of the day, so the dispatcher's claim filters by the window in SQL (no claim-and-release
  churn at night); callbacks.last_result: the latest attempt's result for the board.
* callback_tickets.done_at: when the ticket became done (one callback round per done);
  via_ticket_id: the duplicate ticket through which this citizen is called about the
  original; applied_at: when the outcome was applied to the ticket (a crash between the
  outcome and the ticket move is finished by the next tick).
* callback_attempts.recording / call_uniqueid: the citizen's spoken comment (path under the
  data folder) and the call it came from, so an outcome can be applied again from the row.
* Indexes for the claim order, the citizen merge, the board and the ticket lookups.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("callbacks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("window_start", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("window_end", sa.Integer(), server_default="1440", nullable=False))
        batch_op.add_column(sa.Column("last_result", sa.String(length=20), nullable=True))
    with op.batch_alter_table("callback_tickets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("done_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("via_ticket_id", _ID, nullable=True))
        batch_op.add_column(sa.Column("applied_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_foreign_key(
            op.f("fk_callback_tickets_via_ticket_id_tickets"), "tickets", ["via_ticket_id"], ["id"]
        )
    with op.batch_alter_table("callback_attempts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("recording", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("call_uniqueid", sa.String(length=64), nullable=True))
    op.create_index("ix_callbacks_claim", "callbacks", ["state", "mode", "priority", "due_at"], unique=False)
    op.create_index("ix_callbacks_citizen_state", "callbacks", ["citizen_id", "state"], unique=False)
    op.create_index("ix_callbacks_state_completed", "callbacks", ["state", "completed_at"], unique=False)
    op.create_index("ix_callbacks_state_lease", "callbacks", ["state", "lease_until"], unique=False)
    op.create_index("ix_callback_tickets_ticket", "callback_tickets", ["ticket_id"], unique=False)
    op.create_index("ix_callback_attempts_result_started", "callback_attempts", ["result", "started_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_callback_attempts_result_started", table_name="callback_attempts")
    op.drop_index("ix_callback_tickets_ticket", table_name="callback_tickets")
    op.drop_index("ix_callbacks_state_lease", table_name="callbacks")
    op.drop_index("ix_callbacks_state_completed", table_name="callbacks")
    op.drop_index("ix_callbacks_citizen_state", table_name="callbacks")
    op.drop_index("ix_callbacks_claim", table_name="callbacks")
    with op.batch_alter_table("callback_attempts", schema=None) as batch_op:
        batch_op.drop_column("call_uniqueid")
        batch_op.drop_column("recording")
    with op.batch_alter_table("callback_tickets", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("fk_callback_tickets_via_ticket_id_tickets"), type_="foreignkey")
        batch_op.drop_column("applied_at")
        batch_op.drop_column("via_ticket_id")
        batch_op.drop_column("done_at")
    with op.batch_alter_table("callbacks", schema=None) as batch_op:
        batch_op.drop_column("last_result")
        batch_op.drop_column("window_end")
        batch_op.drop_column("window_start")
