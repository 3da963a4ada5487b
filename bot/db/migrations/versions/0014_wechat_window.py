"""wechat customer-service window

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 09:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "wechat_window",
        sa.Column("openid", sa.String(length=128), nullable=False),
        sa.Column("message_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("message_left", sa.Integer(), nullable=False),
        sa.Column("event_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("event_left", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("openid"),
    )


def downgrade() -> None:
    op.drop_table("wechat_window")
