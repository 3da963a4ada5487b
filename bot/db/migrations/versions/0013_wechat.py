"""wechat nonces and the shared access token

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 07:31:10.397391
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "wechat_nonce",
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("nonce"),
    )
    with op.batch_alter_table("wechat_nonce", schema=None) as batch_op:
        batch_op.create_index("ix_wechat_nonce_seen", ["seen_at"], unique=False)

    op.create_table(
        "wechat_token",
        sa.Column("app_id", sa.String(length=64), nullable=False),
        sa.Column("access_token", sa.String(length=600), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_owner", sa.String(length=36), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("app_id"),
    )


def downgrade() -> None:
    op.drop_table("wechat_token")
    with op.batch_alter_table("wechat_nonce", schema=None) as batch_op:
        batch_op.drop_index("ix_wechat_nonce_seen")

    op.drop_table("wechat_nonce")
