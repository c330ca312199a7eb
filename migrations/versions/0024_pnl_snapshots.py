"""pnl_snapshots: end-of-day equity, cash and P&L per account and per portfolio

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-13

One row per account (portfolio_id null) or portfolio and account, per UTC day, taken by the
end-of-day task (pnl.snapshot) after the day ended. The first snapshot of a day is kept: the
unique index makes a second run of the same day insert nothing.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_AMOUNT = sa.Numeric(24, 8)


def upgrade() -> None:
    op.create_table(
        "pnl_snapshots",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("account_id", sa.UUID(), nullable=False),
        sa.Column("portfolio_id", sa.UUID(), nullable=True),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        # An account's own cash and equity; a portfolio holds no cash (null).
        sa.Column("cash", _AMOUNT, nullable=True),
        sa.Column("equity", _AMOUNT, nullable=True),
        sa.Column("market_value", _AMOUNT, nullable=False),
        sa.Column("realized_pnl", _AMOUNT, nullable=False),
        sa.Column("unrealized_pnl", _AMOUNT, nullable=False),
        sa.Column("taken_at", sa.TIMESTAMP(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"],
                                name=op.f("fk_pnl_snapshots_user_id_users"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"],
                                name=op.f("fk_pnl_snapshots_account_id_accounts"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["portfolio_id"], ["portfolios.id"],
                                name=op.f("fk_pnl_snapshots_portfolio_id_portfolios"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pnl_snapshots")),
    )
    # One a day per book; a history reads a portfolio's (or the accounts') days in order.
    op.execute("CREATE UNIQUE INDEX uq_pnl_snapshots_book ON pnl_snapshots"
               " (user_id, portfolio_id, day, account_id) NULLS NOT DISTINCT")


def downgrade() -> None:
    op.drop_table("pnl_snapshots")
