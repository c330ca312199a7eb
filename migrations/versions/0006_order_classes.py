"""order classes: an entry's exit terms (bracket, oto, oco) and the index its legs are read by

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The take-profit and stop-loss an entry's fills open (bracket, oto), or the stop-loss an
    # oco order's acceptance opens beside it: {"take_profit": {...}, "stop_loss": {...}}.
    op.add_column("orders", sa.Column("exit_terms", postgresql.JSONB))
    op.create_index("ix_orders_parent", "orders", ["parent_id"],
                    postgresql_where=sa.text("parent_id IS NOT NULL"))


def downgrade() -> None:
    op.drop_index("ix_orders_parent", table_name="orders")
    op.drop_column("orders", "exit_terms")
