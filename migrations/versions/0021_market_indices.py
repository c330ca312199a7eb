"""market indices: definitions with constituents, weights and base prices

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-11

An index's level is computed from its constituents' latest prices (shared.domain.indices):
base_level × Σ weight × price / base_price ÷ Σ weight. Seeded for the demo universe: NIFTY 50
and SENSEX over its NSE names, S&P 500 over its US names, each at its base level when every
constituent stands at the reference price migration 0002 quotes it at. They are demo indices
of the names ordergate ships, not the exchanges' full lists: `ordergate import-indices FILE`
replaces an index's constituents with those of a file.
"""

from collections.abc import Sequence
from decimal import Decimal

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_AMOUNT = sa.Numeric(24, 8)

# code, name, exchange (whose day the previous close ends), currency, base level
INDICES = [
    ("NIFTY50", "NIFTY 50", "NSE", "INR", "24000"),
    ("SENSEX", "S&P BSE SENSEX", "BSE", "INR", "80000"),
    ("SPX", "S&P 500", "NYSE", "USD", "5600"),
]
# index, symbol, weight (a share of the index, roughly the real one's), base price (0002's)
CONSTITUENTS = [
    ("NIFTY50", "HDFCBANK", "0.13", "1650.00"), ("NIFTY50", "ICICIBANK", "0.09", "1230.00"),
    ("NIFTY50", "RELIANCE", "0.09", "2950.00"), ("NIFTY50", "INFY", "0.06", "1860.00"),
    ("NIFTY50", "TCS", "0.04", "4210.00"), ("NIFTY50", "ITC", "0.04", "505.00"),
    ("NIFTY50", "SBIN", "0.03", "810.00"),
    ("SENSEX", "HDFCBANK", "0.15", "1650.00"), ("SENSEX", "ICICIBANK", "0.10", "1230.00"),
    ("SENSEX", "RELIANCE", "0.10", "2950.00"), ("SENSEX", "INFY", "0.07", "1860.00"),
    ("SENSEX", "TCS", "0.05", "4210.00"), ("SENSEX", "ITC", "0.05", "505.00"),
    ("SENSEX", "SBIN", "0.03", "810.00"),
    ("SPX", "AAPL", "0.070", "228.50"), ("SPX", "MSFT", "0.065", "415.20"),
    ("SPX", "NVDA", "0.060", "118.90"), ("SPX", "AMZN", "0.037", "186.40"),
    ("SPX", "META", "0.025", "520.10"), ("SPX", "GOOGL", "0.020", "165.30"),
    ("SPX", "TSLA", "0.017", "240.60"), ("SPX", "JPM", "0.013", "212.30"),
    ("SPX", "V", "0.010", "275.80"), ("SPX", "KO", "0.006", "69.40"),
]


def upgrade() -> None:
    indices = op.create_table(
        "market_indices",
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("exchange", sa.String(length=16), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("base_level", _AMOUNT, nullable=False),
        sa.CheckConstraint("base_level > 0", name="base_level"),
        sa.PrimaryKeyConstraint("code"),
    )
    constituents = op.create_table(
        "index_constituents",
        sa.Column("index_code", sa.String(length=32), nullable=False),
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column("weight", _AMOUNT, nullable=False),
        sa.Column("base_price", _AMOUNT, nullable=False),
        sa.CheckConstraint("weight > 0 AND base_price > 0", name="positive"),
        sa.ForeignKeyConstraint(["index_code"], ["market_indices.code"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["symbol"], ["instruments.symbol"]),
        sa.PrimaryKeyConstraint("index_code", "symbol"),
    )
    op.bulk_insert(indices, [
        {"code": code, "name": name, "exchange": exchange, "currency": currency,
         "base_level": Decimal(base)} for code, name, exchange, currency, base in INDICES])
    op.bulk_insert(constituents, [
        {"index_code": code, "symbol": symbol, "weight": Decimal(weight),
         "base_price": Decimal(base)}
        for code, symbol, weight, base in CONSTITUENTS])


def downgrade() -> None:
    op.drop_table("index_constituents")
    op.drop_table("market_indices")
