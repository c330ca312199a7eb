"""ticks: recorded market data, sized for tens of millions of rows

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-09

- ticks: one row per tick (scripts/import_ticks.py). Its natural key is the whole tick, symbol
  and instant first: two ticks of a symbol at the same instant are both kept unless every field
  is equal, so a re-import adds nothing. That unique btree also serves every read (one symbol,
  a time range); a BRIN index on ts serves the scans of every symbol over a day.
  Measured on 10,000,000 rows (README, "Ticks and OHLC"): monthly range partitions were no
  faster for a symbol's day of ticks or bars than this one btree, and cost a partition to
  create before each month's import; BRIN on ts costs ~100 kB against a GB-sized btree.
- tick_ranges: per symbol, its first and last tick and how many: the tickers list reads these
  instead of a min/max over millions of ticks. The import maintains it in its transaction.

No foreign key from ticks to instruments: the import only inserts ticks of known symbols (it
joins the master), and a per-row check would slow every bulk import; tick_ranges has one.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TIMESTAMP = sa.TIMESTAMP(timezone=True)
_PRICE = sa.Numeric(24, 8)
TICK_KEY = ("symbol", "ts", "ltp", "ltq", "buyprice", "buyqty", "sellprice", "sellqty",
            "openinterest")


def upgrade() -> None:
    op.create_table(
        "ticks",
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column("ts", _TIMESTAMP, nullable=False),
        sa.Column("ltp", _PRICE, nullable=False),
        sa.Column("ltq", sa.BigInteger(), nullable=False),
        sa.Column("buyprice", _PRICE, nullable=False),
        sa.Column("buyqty", sa.BigInteger(), nullable=False),
        sa.Column("sellprice", _PRICE, nullable=False),
        sa.Column("sellqty", sa.BigInteger(), nullable=False),
        sa.Column("openinterest", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("ltp > 0 AND buyprice >= 0 AND sellprice >= 0",
                           name=op.f("ck_ticks_prices")),
        sa.CheckConstraint("ltq >= 0 AND buyqty >= 0 AND sellqty >= 0 AND openinterest >= 0",
                           name=op.f("ck_ticks_quantities")),
    )
    op.create_index("uq_ticks_tick", "ticks", list(TICK_KEY), unique=True)
    op.create_index("ix_ticks_ts_brin", "ticks", ["ts"], postgresql_using="brin")
    op.create_table(
        "tick_ranges",
        sa.Column("symbol", sa.String(length=32), sa.ForeignKey(
            "instruments.symbol", name=op.f("fk_tick_ranges_symbol_instruments")),
            primary_key=True),
        sa.Column("first_ts", _TIMESTAMP, nullable=False),
        sa.Column("last_ts", _TIMESTAMP, nullable=False),
        sa.Column("tick_count", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("first_ts <= last_ts AND tick_count > 0",
                           name=op.f("ck_tick_ranges_sane")),
    )


def downgrade() -> None:
    op.drop_table("tick_ranges")
    op.drop_table("ticks")
