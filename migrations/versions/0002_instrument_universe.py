"""Seed the instrument universe (US and NSE equities) with opening quotes.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from collections.abc import Sequence
from decimal import Decimal

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# symbol, name, exchange, currency, tick size, reference price (a recent close, rounded).
UNIVERSE = [
    ("AAPL", "Apple Inc.", "NASDAQ", "USD", "0.01", "228.50"),
    ("MSFT", "Microsoft Corporation", "NASDAQ", "USD", "0.01", "415.20"),
    ("GOOGL", "Alphabet Inc. Class A", "NASDAQ", "USD", "0.01", "165.30"),
    ("AMZN", "Amazon.com, Inc.", "NASDAQ", "USD", "0.01", "186.40"),
    ("NVDA", "NVIDIA Corporation", "NASDAQ", "USD", "0.01", "118.90"),
    ("META", "Meta Platforms, Inc.", "NASDAQ", "USD", "0.01", "520.10"),
    ("TSLA", "Tesla, Inc.", "NASDAQ", "USD", "0.01", "240.60"),
    ("JPM", "JPMorgan Chase & Co.", "NYSE", "USD", "0.01", "212.30"),
    ("V", "Visa Inc.", "NYSE", "USD", "0.01", "275.80"),
    ("KO", "The Coca-Cola Company", "NYSE", "USD", "0.01", "69.40"),
    ("SPY", "SPDR S&P 500 ETF Trust", "NYSEARCA", "USD", "0.01", "560.70"),
    ("RELIANCE", "Reliance Industries Ltd", "NSE", "INR", "0.05", "2950.00"),
    ("TCS", "Tata Consultancy Services Ltd", "NSE", "INR", "0.05", "4210.00"),
    ("INFY", "Infosys Ltd", "NSE", "INR", "0.05", "1860.00"),
    ("HDFCBANK", "HDFC Bank Ltd", "NSE", "INR", "0.05", "1650.00"),
    ("ICICIBANK", "ICICI Bank Ltd", "NSE", "INR", "0.05", "1230.00"),
    ("SBIN", "State Bank of India", "NSE", "INR", "0.05", "810.00"),
    ("ITC", "ITC Ltd", "NSE", "INR", "0.05", "505.00"),
]


def _spread(mid: Decimal, tick: Decimal) -> tuple[Decimal, Decimal]:
    return mid - tick, mid + tick


def upgrade() -> None:
    instruments = sa.table(
        "instruments",
        sa.column("symbol"),
        sa.column("name"),
        sa.column("exchange"),
        sa.column("currency"),
        sa.column("tick_size"),
        sa.column("lot_size"),
    )
    quotes = sa.table(
        "quotes", sa.column("symbol"), sa.column("bid"), sa.column("ask"), sa.column("last")
    )
    op.bulk_insert(
        instruments,
        [
            {
                "symbol": s,
                "name": n,
                "exchange": e,
                "currency": c,
                "tick_size": Decimal(t),
                "lot_size": Decimal(1),
            }
            for s, n, e, c, t, _ in UNIVERSE
        ],
    )
    rows = []
    for symbol, _, _, _, tick, price in UNIVERSE:
        bid, ask = _spread(Decimal(price), Decimal(tick))
        rows.append({"symbol": symbol, "bid": bid, "ask": ask, "last": Decimal(price)})
    op.bulk_insert(quotes, rows)


def downgrade() -> None:
    symbols = [row[0] for row in UNIVERSE]
    op.execute(sa.text("DELETE FROM quotes WHERE symbol = ANY(:s)").bindparams(s=symbols))
    op.execute(sa.text("DELETE FROM instruments WHERE symbol = ANY(:s)").bindparams(s=symbols))
