"""portfolios: a user's named groups of orders and journaled trades

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-11

An order or a journaled trade may name one of its user's portfolios; its positions and P&L
then roll up under that portfolio as well as under its account. The foreign keys are composite,
(user_id, portfolio_id), so the database itself refuses an order or a trade naming another
user's portfolio. A portfolio that an order or a trade names cannot be deleted (NO ACTION,
checked at the end of the statement, so deleting a user still takes everything of theirs):
orders are the log and are never rewritten, so a portfolio's history stays whole.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TIMESTAMP = sa.TIMESTAMP(timezone=True)


def _now(name: str) -> sa.Column[object]:
    return sa.Column(name, _TIMESTAMP, server_default=sa.text("now()"), nullable=False)


def upgrade() -> None:
    op.create_table(
        "portfolios",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("name_key", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        _now("created_at"),
        _now("updated_at"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"],
                                name=op.f("fk_portfolios_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portfolios")),
        sa.UniqueConstraint("user_id", "name_key", name=op.f("uq_portfolios_user_name_key")),
        # The target of the composite foreign keys below.
        sa.UniqueConstraint("user_id", "id", name=op.f("uq_portfolios_user_id")),
    )
    op.create_index("ix_portfolios_user_created", "portfolios",
                    ["user_id", sa.text("created_at DESC"), sa.text("id DESC")])
    for table in ("orders", "trades"):
        op.add_column(table, sa.Column("portfolio_id", sa.UUID(), nullable=True))
        op.create_foreign_key(f"fk_{table}_user_id_portfolios", table, "portfolios",
                              ["user_id", "portfolio_id"], ["user_id", "id"])
        op.create_index(f"ix_{table}_portfolio", table, ["portfolio_id"],
                        postgresql_where=sa.text("portfolio_id IS NOT NULL"))


def downgrade() -> None:
    for table in ("trades", "orders"):
        op.drop_index(f"ix_{table}_portfolio", table_name=table)
        op.drop_constraint(f"fk_{table}_user_id_portfolios", table, type_="foreignkey")
        op.drop_column(table, "portfolio_id")
    op.drop_index("ix_portfolios_user_created", table_name="portfolios")
    op.drop_table("portfolios")
