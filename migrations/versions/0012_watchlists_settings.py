"""watchlists, their items, and each user's profile and preferences

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05

Settings live in a table of their own, `user_settings` (one row per user, keyed by user_id),
not in columns on `users`: `users` is the login row, read by every authenticated request and
changed by the auth code (password, token generation); a settings PUT then locks and rewrites
a row no login needs. A user without a row has the defaults (UTC, LIMIT, DAY, confirmations
on), so no backfill is needed. `default_account_id` is set to NULL (the paper account) when
that account is deleted; that it is one of the user's own accounts is checked by the API.

Watchlist names are unique per user through `name_key`, the casefolded name computed in
shared.domain.watchlists: SQL's lower() does not fold "ß" to "ss". Items are keyed by
(watchlist, symbol), so a symbol is listed once per watchlist, and ordered by `position`.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TIMESTAMP = sa.TIMESTAMP(timezone=True)
_ORDER_TYPES = "'MARKET', 'LIMIT', 'STOP', 'STOP_LIMIT', 'TRAILING_STOP'"
_TIMES_IN_FORCE = "'DAY', 'GTC', 'IOC', 'FOK', 'GTD'"


def _now(name: str) -> sa.Column[object]:
    return sa.Column(name, _TIMESTAMP, server_default=sa.text("now()"), nullable=False)


def upgrade() -> None:
    op.create_table(
        "watchlists",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("name_key", sa.Text(), nullable=False),
        _now("created_at"),
        _now("updated_at"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"],
                                name=op.f("fk_watchlists_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_watchlists")),
        sa.UniqueConstraint("user_id", "name_key", name=op.f("uq_watchlists_user_name_key")),
    )
    op.create_index("ix_watchlists_user_created", "watchlists",
                    ["user_id", sa.text("created_at DESC"), sa.text("id DESC")])
    op.create_table(
        "watchlist_items",
        sa.Column("watchlist_id", sa.UUID(), nullable=False),
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        _now("created_at"),
        sa.ForeignKeyConstraint(["watchlist_id"], ["watchlists.id"],
                                name=op.f("fk_watchlist_items_watchlist_id_watchlists"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["symbol"], ["instruments.symbol"],
                                name=op.f("fk_watchlist_items_symbol_instruments"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("watchlist_id", "symbol", name=op.f("pk_watchlist_items")),
    )
    op.create_index("ix_watchlist_items_watchlist_position", "watchlist_items",
                    ["watchlist_id", "position", "symbol"])
    op.create_table(
        "user_settings",
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("display_name", sa.String(length=100), nullable=True),
        sa.Column("mobile", sa.String(length=16), nullable=True),
        sa.Column("timezone", sa.String(length=64), server_default="UTC", nullable=False),
        sa.Column("default_account_id", sa.UUID(), nullable=True),
        sa.Column("default_order_type", sa.String(length=16), server_default="LIMIT",
                  nullable=False),
        sa.Column("default_time_in_force", sa.String(length=8), server_default="DAY",
                  nullable=False),
        sa.Column("confirm_orders", sa.Boolean(), server_default=sa.text("true"),
                  nullable=False),
        _now("updated_at"),
        sa.CheckConstraint(f"default_order_type IN ({_ORDER_TYPES})",
                           name=op.f("ck_user_settings_default_order_type")),
        sa.CheckConstraint(f"default_time_in_force IN ({_TIMES_IN_FORCE})",
                           name=op.f("ck_user_settings_default_time_in_force")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"],
                                name=op.f("fk_user_settings_user_id_users"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["default_account_id"], ["accounts.id"],
                                name=op.f("fk_user_settings_default_account_id_accounts"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_user_settings")),
    )


def downgrade() -> None:
    op.drop_table("user_settings")
    op.drop_index("ix_watchlist_items_watchlist_position", table_name="watchlist_items")
    op.drop_table("watchlist_items")
    op.drop_index("ix_watchlists_user_created", table_name="watchlists")
    op.drop_table("watchlists")
