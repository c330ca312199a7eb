"""the instrument master: segments, sane sizes, and indexes for search

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06

The master is imported from brokers' dumps (scripts/import_instruments.py); each broker's
identifiers go into the existing `broker_refs` (e.g. {"zerodha": {"instrument_token": ...}}).
Search (GET /api/v1/market/search) ranks exact and prefix matches of the symbol, then names:
btrees on `symbol` and `lower(name)` with text_pattern_ops answer prefix LIKEs whatever the
collation, and pg_trgm GIN indexes answer substring matches of both (full-text search cannot
match inside a word like NIFTY24DECFUT; the figures are in README, "Instrument master").
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    # A Kite dump's segment: NSE, BSE, NFO-FUT, NFO-OPT, MCX-FUT ...; NULL for hand-made rows.
    op.add_column("instruments", sa.Column("segment", sa.String(length=16), nullable=True))
    op.create_check_constraint("sizes", "instruments", "tick_size > 0 AND lot_size > 0")
    op.create_index("ix_instruments_symbol_prefix", "instruments",
                    [sa.text("symbol text_pattern_ops")])
    op.create_index("ix_instruments_name_prefix", "instruments",
                    [sa.text("lower(name) text_pattern_ops")])
    op.create_index("ix_instruments_symbol_trgm", "instruments",
                    [sa.text("symbol gin_trgm_ops")], postgresql_using="gin")
    op.create_index("ix_instruments_name_trgm", "instruments",
                    [sa.text("lower(name) gin_trgm_ops")], postgresql_using="gin")


def downgrade() -> None:
    for index in ("ix_instruments_name_trgm", "ix_instruments_symbol_trgm",
                  "ix_instruments_name_prefix", "ix_instruments_symbol_prefix"):
        op.drop_index(index, table_name="instruments")
    op.drop_constraint("ck_instruments_sizes", "instruments", type_="check")
    op.drop_column("instruments", "segment")
    # pg_trgm stays: dropping an extension other objects may use is not this migration's call.
