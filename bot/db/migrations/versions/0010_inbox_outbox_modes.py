"""inbox keys and leases, conversation modes, the outbox, shared rate limits, job runs

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 10:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("chat_identity", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("mode", sa.String(length=16), nullable=False, server_default="bot")
        )
        batch_op.add_column(sa.Column("lease_owner", sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.add_column(sa.Column("identity_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("channel_message_id", sa.String(length=128), nullable=True))
        batch_op.add_column(
            sa.Column("reply_later", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.create_foreign_key(
            "fk_message_identity", "chat_identity", ["identity_id"], ["id"], ondelete="CASCADE"
        )
        batch_op.create_unique_constraint(
            "uq_message_channel_id", ["identity_id", "channel_message_id"]
        )
        batch_op.create_index("ix_message_pending", ["identity_id", "status"], unique=False)
    # Inbound messages belong to their conversation's identity; "unanswered" is now
    # "failed" (an apology was sent).
    op.execute(
        "UPDATE message SET identity_id = (SELECT conversation.identity_id FROM conversation"
        " WHERE conversation.id = message.conversation_id) WHERE direction = 'in'"
    )
    op.execute("UPDATE message SET status = 'failed' WHERE status = 'unanswered'")
    with op.batch_alter_table("staff_alert", schema=None) as batch_op:
        batch_op.add_column(sa.Column("params", sa.JSON(), nullable=True))
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=160), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("recipient", sa.String(length=128), nullable=False),
        sa.Column("identity_id", sa.Integer(), nullable=True),
        sa.Column("message_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("buttons", sa.JSON(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_owner", sa.String(length=36), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=300), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["identity_id"], ["chat_identity.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["message_id"], ["message.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("idempotency_key", name="uq_outbox_key"),
    )
    op.create_index("ix_outbox_due", "outbox", ["status", "next_attempt_at"], unique=False)
    op.create_index("ix_outbox_recipient", "outbox", ["channel", "recipient", "id"], unique=False)
    op.create_index("ix_outbox_identity", "outbox", ["identity_id", "id"], unique=False)
    op.create_table(
        "rate_limit",
        sa.Column("key", sa.String(length=160), nullable=False),
        sa.Column("tat", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "job_run",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("last_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_owner", sa.String(length=36), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("job_run")
    op.drop_table("rate_limit")
    op.drop_index("ix_outbox_identity", table_name="outbox")
    op.drop_index("ix_outbox_recipient", table_name="outbox")
    op.drop_index("ix_outbox_due", table_name="outbox")
    op.drop_table("outbox")
    with op.batch_alter_table("staff_alert", schema=None) as batch_op:
        batch_op.drop_column("params")
    op.execute("UPDATE message SET status = 'unanswered' WHERE status = 'failed'")
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.drop_index("ix_message_pending")
        batch_op.drop_constraint("uq_message_channel_id", type_="unique")
        batch_op.drop_constraint("fk_message_identity", type_="foreignkey")
        batch_op.drop_column("reply_later")
        batch_op.drop_column("channel_message_id")
        batch_op.drop_column("identity_id")
    with op.batch_alter_table("chat_identity", schema=None) as batch_op:
        batch_op.drop_column("lease_until")
        batch_op.drop_column("lease_owner")
        batch_op.drop_column("mode")
