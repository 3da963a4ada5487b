"""resident: the date of birth as a keyed hash only

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 21:00:00

The registry kept residents' dates of birth in clear, though they serve only to be
compared with what a chat types (bot.records.references). They become keyed hashes under the
registry's key (REGISTRY_HASH_KEY), as card and passport numbers already are. The key
must be the one the running processes use; downgrading cannot restore the dates (the
column comes back empty, to be filled by importing the registry again).
"""

import hashlib
import hmac

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def _key() -> bytes:
    from bot.settings import get_settings

    return get_settings().registry_hash_key.encode()


def upgrade() -> None:
    with op.batch_alter_table("resident", schema=None) as batch_op:
        batch_op.add_column(sa.Column("birth_hash", sa.String(length=64), nullable=True))
    bind = op.get_bind()
    resident = sa.table(
        "resident",
        sa.column("id", sa.Integer),
        sa.column("date_of_birth", sa.Date),
        sa.column("birth_hash", sa.String),
    )
    rows = bind.execute(sa.select(resident.c.id, resident.c.date_of_birth)).all()
    if rows:
        key = _key()
        for row_id, born in rows:
            # The same hash as bot.records.registry.secrets.birth_date_hash (kept here as it was
            # when written: a migration must not change with the code).
            value = hmac.new(key, b"dob:" + born.isoformat().encode(), hashlib.sha256)
            bind.execute(
                resident.update()
                .where(resident.c.id == row_id)
                .values(birth_hash=value.hexdigest())
            )
    with op.batch_alter_table("resident", schema=None) as batch_op:
        batch_op.alter_column("birth_hash", existing_type=sa.String(length=64), nullable=False)
        batch_op.drop_column("date_of_birth")


def downgrade() -> None:
    with op.batch_alter_table("resident", schema=None) as batch_op:
        batch_op.add_column(sa.Column("date_of_birth", sa.Date(), nullable=True))
        batch_op.drop_column("birth_hash")
