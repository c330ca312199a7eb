"""order aggregate: where a pending state came from, an order's trade ids and exact notional

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATUSES = ("PENDING_NEW", "SUBMITTED", "ACCEPTED", "PARTIALLY_FILLED", "FILLED",
            "PENDING_CANCEL", "CANCELED", "REJECTED", "EXPIRED")


def upgrade() -> None:
    op.add_column("orders", sa.Column("previous_status", sa.String(length=16), nullable=True))
    op.add_column("orders", sa.Column("trade_ids", postgresql.ARRAY(sa.Text()), nullable=False,
                                      server_default=sa.text("'{}'::text[]")))
    # Unbounded NUMERIC: Σ quantity × price keeps every digit, so the average is rounded once.
    op.add_column("orders", sa.Column("filled_notional", sa.Numeric(), nullable=False,
                                      server_default=sa.text("0")))
    op.execute("UPDATE orders o SET filled_notional = (SELECT coalesce(sum(f.quantity * f.price),"
               " 0) FROM fills f WHERE f.order_id = o.id) WHERE o.filled_quantity > 0")
    # Orders already waiting for a cancel came from a working status; fills tell which.
    op.execute("UPDATE orders SET previous_status = CASE WHEN filled_quantity > 0"
               " THEN 'PARTIALLY_FILLED' ELSE 'ACCEPTED' END WHERE status = 'PENDING_CANCEL'")
    op.execute("UPDATE orders o SET trade_ids = ARRAY(SELECT f.broker_exec_id FROM fills f"
               " WHERE f.order_id = o.id ORDER BY f.executed_at, f.broker_exec_id)"
               " WHERE o.filled_quantity > 0")
    listed = ", ".join(f"'{s}'" for s in STATUSES)
    op.create_check_constraint(
        "previous_status", "orders",
        f"(status = 'PENDING_CANCEL') = (previous_status IS NOT NULL)"
        f" AND (previous_status IS NULL OR previous_status IN ({listed}))")


def downgrade() -> None:
    op.drop_constraint("ck_orders_previous_status", "orders", type_="check")
    op.drop_column("orders", "filled_notional")
    op.drop_column("orders", "trade_ids")
    op.drop_column("orders", "previous_status")
