"""roles, the audit log, the cash journal and dispatch pauses

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-08

- users.role: `user` (every existing user) or `admin`; prefix indexes for the admin's search
  (e-mails are stored in lower case; usernames are searched in lower case).
- audit_log: who did what to whose account, when, from where, under which request. It has no
  foreign keys (an entry outlives the user and the key it names) and refuses UPDATE, DELETE
  and TRUNCATE in the database itself, whoever asks.
- cash_journal: every cash deposit and withdrawal an admin makes on a paper account, with the
  cash it left and the Idempotency-Key that makes a retry safe; append-only like the audit log.
- dispatch_pauses: one row per broker whose new orders wait (placed nowhere) until resumed.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TIMESTAMP = sa.TIMESTAMP(timezone=True)
_AMOUNT = sa.Numeric(24, 8)
_APPEND_ONLY = ("audit_log", "cash_journal")

_REFUSE_CHANGES = """
CREATE FUNCTION refuse_changes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % is refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$
"""


def upgrade() -> None:
    op.add_column("users", sa.Column("role", sa.String(length=8), server_default="user",
                                     nullable=False))
    op.create_check_constraint(op.f("ck_users_role"), "users", "role IN ('user', 'admin')")
    op.create_index("ix_users_email_prefix", "users", [sa.text("email text_pattern_ops")])
    op.create_index("ix_users_username_prefix", "users",
                    [sa.text("lower(username) text_pattern_ops")])
    op.create_index("ix_users_created", "users", [sa.text("created_at DESC"), sa.text("id DESC")])

    op.create_table(
        "audit_log",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("created_at", _TIMESTAMP, server_default=sa.text("now()"), nullable=False),
        sa.Column("action", sa.String(length=48), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=True),
        sa.Column("actor_user_id", sa.UUID(), nullable=True),
        sa.Column("api_key_id", sa.UUID(), nullable=True),
        sa.Column("target_type", sa.String(length=32), nullable=True),
        sa.Column("target_id", sa.String(length=128), nullable=True),
        sa.Column("details", postgresql.JSONB(astext_type=sa.Text()),
                  server_default=sa.text("'{}'::jsonb"), nullable=False),
        sa.Column("ip", postgresql.INET(), nullable=True),
        sa.Column("request_id", sa.String(length=128), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index("ix_audit_log_created", "audit_log",
                    [sa.text("created_at DESC"), sa.text("id DESC")])
    op.create_index("ix_audit_log_user_created", "audit_log",
                    ["user_id", sa.text("created_at DESC"), sa.text("id DESC")])
    op.create_index("ix_audit_log_action_created", "audit_log",
                    ["action", sa.text("created_at DESC"), sa.text("id DESC")])

    op.create_table(
        "cash_journal",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("account_id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("amount", _AMOUNT, nullable=False),
        sa.Column("cash_after", _AMOUNT, nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("actor_user_id", sa.UUID(), nullable=True),
        sa.Column("idempotency_key", sa.String(length=255), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", _TIMESTAMP, server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("amount <> 0", name=op.f("ck_cash_journal_amount_not_zero")),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"],
                                name=op.f("fk_cash_journal_account_id_accounts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cash_journal")),
        sa.UniqueConstraint("account_id", "idempotency_key",
                            name="uq_cash_journal_account_idempotency_key"),
    )

    op.execute(_REFUSE_CHANGES)
    for table in _APPEND_ONLY:
        op.execute(f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}"
                   " FOR EACH ROW EXECUTE FUNCTION refuse_changes()")
        op.execute(f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}"
                   " FOR EACH STATEMENT EXECUTE FUNCTION refuse_changes()")

    op.create_table(
        "dispatch_pauses",
        sa.Column("broker", sa.String(length=32), nullable=False),
        sa.Column("paused_at", _TIMESTAMP, server_default=sa.text("now()"), nullable=False),
        sa.Column("paused_by", sa.UUID(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "broker IN ('paper', 'ibkr', 'zerodha', 'upstox', 'groww', 'angelone')",
            name=op.f("ck_dispatch_pauses_broker")),
        sa.PrimaryKeyConstraint("broker", name=op.f("pk_dispatch_pauses")),
    )


def downgrade() -> None:
    op.drop_table("dispatch_pauses")
    for table in _APPEND_ONLY:
        op.drop_table(table)  # its triggers go with it
    op.execute("DROP FUNCTION refuse_changes()")
    op.drop_index("ix_users_created", table_name="users")
    op.drop_index("ix_users_username_prefix", table_name="users")
    op.drop_index("ix_users_email_prefix", table_name="users")
    op.drop_constraint(op.f("ck_users_role"), "users", type_="check")
    op.drop_column("users", "role")
