"""the trades journal: trades done outside ordergate

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-09

A journaled trade books into its account's position and cash as a fill does (the position is
rebuilt from the symbol's fills and trades whenever a trade is added, changed or deleted).
A trade imported from a broker's tradebook keeps the broker's trade id, unique per account,
so that importing the same file again adds nothing.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TIMESTAMP = sa.TIMESTAMP(timezone=True)
_AMOUNT = sa.Numeric(24, 8)


def upgrade() -> None:
    op.create_table(
        "trades",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("account_id", sa.UUID(), nullable=False),
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column("side", sa.String(length=4), nullable=False),
        sa.Column("quantity", _AMOUNT, nullable=False),
        sa.Column("price", _AMOUNT, nullable=False),
        sa.Column("executed_at", _TIMESTAMP, nullable=False),
        sa.Column("brokerage_charge", _AMOUNT, server_default=sa.text("0"), nullable=False),
        sa.Column("mtf_charge", _AMOUNT, server_default=sa.text("0"), nullable=False),
        sa.Column("type", sa.String(length=3), server_default="eq", nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("source", sa.String(length=16), server_default="manual", nullable=False),
        sa.Column("external_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", _TIMESTAMP, server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", _TIMESTAMP, server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("quantity > 0 AND price > 0", name="positive"),
        sa.CheckConstraint("brokerage_charge >= 0 AND mtf_charge >= 0", name="charges"),
        sa.CheckConstraint("side IN ('BUY', 'SELL')", name="side"),
        sa.CheckConstraint("type IN ('eq', 'fno')", name="type"),
        sa.CheckConstraint("source IN ('manual', 'tradebook')", name="source"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"]),
        sa.ForeignKeyConstraint(["symbol"], ["instruments.symbol"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("account_id", "external_id", name="uq_trades_account_external"),
    )
    op.create_index("ix_trades_user_executed", "trades",
                    ["user_id", sa.text("executed_at DESC"), sa.text("id DESC")])
    op.create_index("ix_trades_account_symbol", "trades",
                    ["account_id", "symbol", "executed_at"])
    # Rebuilding a position reads the symbol's fills of one account in time order.
    op.create_index("ix_fills_account_symbol", "fills", ["account_id", "symbol", "executed_at"])


def downgrade() -> None:
    op.drop_index("ix_fills_account_symbol", table_name="fills")
    op.drop_table("trades")
