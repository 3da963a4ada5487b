"""staff accounts, sessions and login attempts; handoffs, notes; the audit log; authors

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 12:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

APPEND_ONLY_SQLITE = """
CREATE TRIGGER audit_log_no_{verb} BEFORE {VERB} ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END
"""
APPEND_ONLY_POSTGRES = [
    """CREATE FUNCTION audit_log_append_only() RETURNS trigger AS $$
       BEGIN RAISE EXCEPTION 'audit_log is append-only'; END; $$ LANGUAGE plpgsql""",
    """CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
       FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()""",
    """CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
       FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()""",
]


def upgrade() -> None:
    op.create_table(
        "staff_user",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("totp_secret", sa.String(length=64), nullable=True),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "staff_session",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["staff_id"], ["staff_user.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("token_hash"),
    )
    op.create_table(
        "staff_login_attempt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("succeeded", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_staff_login_name", "staff_login_attempt", ["name", "created_at"])
    op.create_table(
        "handoff",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("identity_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=24), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("assignee_id", sa.Integer(), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=24), nullable=True),
        sa.Column("rating", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["identity_id"], ["chat_identity.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["assignee_id"], ["staff_user.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_handoff_status", "handoff", ["status", "requested_at"])
    op.create_index("ix_handoff_identity", "handoff", ["identity_id", "id"])
    op.create_table(
        "handoff_note",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("identity_id", sa.Integer(), nullable=False),
        sa.Column("handoff_id", sa.Integer(), nullable=True),
        sa.Column("staff_id", sa.Integer(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["identity_id"], ["chat_identity.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["handoff_id"], ["handoff.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["staff_id"], ["staff_user.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=True),
        sa.Column("staff_name", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("identity_id", sa.Integer(), nullable=True),
        sa.Column("handoff_id", sa.Integer(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_audit_identity", "audit_log", ["identity_id", "id"])
    if op.get_bind().dialect.name == "postgresql":
        for statement in APPEND_ONLY_POSTGRES:
            op.execute(statement)
    else:
        for verb in ("update", "delete"):
            op.execute(APPEND_ONLY_SQLITE.format(verb=verb, VERB=verb.upper()))
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.add_column(sa.Column("author", sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column("staff_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            "fk_message_staff", "staff_user", ["staff_id"], ["id"], ondelete="SET NULL"
        )


def downgrade() -> None:
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.drop_constraint("fk_message_staff", type_="foreignkey")
        batch_op.drop_column("staff_id")
        batch_op.drop_column("author")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log")
        op.execute("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")
    op.drop_index("ix_audit_identity", table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_table("handoff_note")
    op.drop_index("ix_handoff_identity", table_name="handoff")
    op.drop_index("ix_handoff_status", table_name="handoff")
    op.drop_table("handoff")
    op.drop_index("ix_staff_login_name", table_name="staff_login_attempt")
    op.drop_table("staff_login_attempt")
    op.drop_table("staff_session")
    op.drop_table("staff_user")
