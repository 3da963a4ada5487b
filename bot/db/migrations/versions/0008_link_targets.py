"""link attempts per card, link targets, linked_at

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 20:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "link_target",
        sa.Column("ref", sa.String(length=80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("ref"),
    )
    with op.batch_alter_table("link_attempt", schema=None) as batch_op:
        batch_op.add_column(sa.Column("card_ref", sa.String(length=80), nullable=True))
        batch_op.create_index("ix_link_attempt_card_ref", ["card_ref", "created_at"], unique=False)
        batch_op.create_index("ix_link_attempt_created", ["created_at"], unique=False)
    with op.batch_alter_table("chat_identity", schema=None) as batch_op:
        batch_op.add_column(sa.Column("linked_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("chat_identity", schema=None) as batch_op:
        batch_op.drop_column("linked_at")
    with op.batch_alter_table("link_attempt", schema=None) as batch_op:
        batch_op.drop_index("ix_link_attempt_created")
        batch_op.drop_index("ix_link_attempt_card_ref")
        batch_op.drop_column("card_ref")
    op.drop_table("link_target")
