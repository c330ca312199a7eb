"""orders.is_open and ix_orders_user_open: the dashboard counts open orders without reading them all

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-14

The dashboard's count of a user's open orders read every order of the user (1,000 heap pages
for a user of 1,000 final orders) to keep the few not final. An index on `status`, even a
partial one whose predicate names it, would stop every order update from being HOT (0003):
each one moves the status. `is_open` is generated from the status and changes once in an
order's life, when it becomes final, so the partial index on it costs one entry per order
placed and leaves the moves between open statuses HOT. Adding the column rewrites the table.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The terminal statuses of shared.domain.orders as of this revision.
_OPEN = "status NOT IN ('CANCELED', 'EXPIRED', 'FILLED', 'REJECTED')"


def upgrade() -> None:
    op.add_column("orders", sa.Column("is_open", sa.Boolean(),
                                      sa.Computed(_OPEN, persisted=True), nullable=False))
    op.create_index("ix_orders_user_open", "orders", ["user_id", "account_id"],
                    postgresql_where=sa.text("is_open"))


def downgrade() -> None:
    op.drop_index("ix_orders_user_open", table_name="orders")
    op.drop_column("orders", "is_open")
