"""holdings: settled and unsettled delivery quantities, rolled from positions at end of day

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-12

One row per account and symbol (portfolio_id null) and per portfolio, account and symbol
(portfolio_id set): what the exchange has delivered (quantity) and what was bought but has not
settled (t1_quantity), as of the trading day that settled them. The end-of-day task
(holdings.settle) writes them; settlement_runs holds one row per exchange and trading day it
settled, so that a second run of the same day changes nothing.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TIMESTAMP = sa.TIMESTAMP(timezone=True)
_AMOUNT = sa.Numeric(24, 8)


def upgrade() -> None:
    op.create_table(
        "settlement_runs",
        sa.Column("exchange", sa.String(length=16), nullable=False),
        sa.Column("trading_day", sa.Date(), nullable=False),
        sa.Column("settled_at", _TIMESTAMP, server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("exchange", "trading_day", name=op.f("pk_settlement_runs")),
    )
    op.create_table(
        "holdings",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("account_id", sa.UUID(), nullable=False),
        sa.Column("portfolio_id", sa.UUID(), nullable=True),
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column("exchange", sa.String(length=16), nullable=False),
        sa.Column("quantity", _AMOUNT, nullable=False),
        sa.Column("t1_quantity", _AMOUNT, nullable=False),
        sa.Column("avg_price", _AMOUNT, nullable=False),
        sa.Column("trading_day", sa.Date(), nullable=False),
        sa.CheckConstraint("quantity >= 0 AND t1_quantity >= 0", name=op.f("ck_holdings_held")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_holdings_user_id_users"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"],
                                name=op.f("fk_holdings_account_id_accounts"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["portfolio_id"], ["portfolios.id"],
                                name=op.f("fk_holdings_portfolio_id_portfolios"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_holdings")),
    )
    # One row per (account, portfolio or none, symbol); the lists page by symbol within them.
    op.execute("CREATE UNIQUE INDEX uq_holdings_book ON holdings"
               " (user_id, portfolio_id, symbol, account_id) NULLS NOT DISTINCT")
    op.create_index("ix_holdings_exchange", "holdings", ["exchange"])


def downgrade() -> None:
    op.drop_table("holdings")
    op.drop_table("settlement_runs")
