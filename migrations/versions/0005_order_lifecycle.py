"""order lifecycle: trailing stops, GTD, replaces, triggered stops, order classes, quote sizes,
and the order_triggers table the paper book and the expiry task read

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AMOUNT = sa.Numeric(24, 8)
TS = sa.TIMESTAMP(timezone=True)
OLD_STATUSES = ("PENDING_NEW", "SUBMITTED", "ACCEPTED", "PARTIALLY_FILLED", "FILLED",
                "PENDING_CANCEL", "CANCELED", "REJECTED", "EXPIRED")
STATUSES = (*OLD_STATUSES, "TRIGGERED", "PENDING_REPLACE")
OLD_TYPES = ("MARKET", "LIMIT", "STOP", "STOP_LIMIT")
TYPES = (*OLD_TYPES, "TRAILING_STOP")
OLD_TIFS = ("DAY", "GTC", "IOC", "FOK")
TIFS = (*OLD_TIFS, "GTD")


def _in(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _checks(statuses: Sequence[str], types: Sequence[str], tifs: Sequence[str],
            pending: Sequence[str]) -> None:
    for name in ("status", "order_type", "time_in_force", "previous_status"):
        op.drop_constraint(op.f(f"ck_orders_{name}"), "orders", type_="check")
    op.create_check_constraint("status", "orders", _in("status", statuses))
    op.create_check_constraint("order_type", "orders", _in("order_type", types))
    op.create_check_constraint("time_in_force", "orders", _in("time_in_force", tifs))
    op.create_check_constraint(
        "previous_status", "orders",
        f"({_in('status', pending)}) = (previous_status IS NOT NULL)"
        f" AND (previous_status IS NULL OR {_in('previous_status', statuses)})")


def upgrade() -> None:
    op.alter_column("orders", "order_type", type_=sa.String(16))
    for name in ("trail_price", "trail_percent", "hwm"):
        op.add_column("orders", sa.Column(name, AMOUNT))
    op.add_column("orders", sa.Column("expire_at", TS))
    op.add_column("orders", sa.Column("order_class", sa.String(8), nullable=False,
                                      server_default="simple"))
    op.add_column("orders", sa.Column("parent_id", postgresql.UUID(as_uuid=True),
                                      sa.ForeignKey("orders.id",
                                                    name="fk_orders_parent_id_orders")))
    op.add_column("orders", sa.Column("pending_terms", postgresql.JSONB))
    _checks(STATUSES, TYPES, TIFS, ("PENDING_CANCEL", "PENDING_REPLACE"))
    op.create_check_constraint("pending_terms", "orders",
                               "(status = 'PENDING_REPLACE') = (pending_terms IS NOT NULL)")
    op.create_check_constraint("order_class", "orders",
                               _in("order_class", ("simple", "bracket", "oco", "oto")))
    op.create_check_constraint("gtd_expire_at", "orders",
                               "time_in_force <> 'GTD' OR expire_at IS NOT NULL")

    # Per account: what a MARKET order outside its exchange's session does (waits for the open
    # or is rejected), its own risk limits over the settings' defaults, and its kill switch.
    op.add_column("accounts", sa.Column("outside_session", sa.String(6), nullable=False,
                                        server_default="wait"))
    op.create_check_constraint("outside_session", "accounts",
                               "outside_session IN ('wait', 'reject')")
    op.add_column("accounts", sa.Column("risk_limits", postgresql.JSONB, nullable=False,
                                        server_default=sa.text("'{}'::jsonb")))
    op.add_column("accounts", sa.Column("halted_at", TS))
    # Who or what caused each transition: "user:<id>", "paper", "broker:<name>", "expiry"...
    op.add_column("order_events", sa.Column("actor", sa.String(64)))

    # A fill's charges apart: brokerage, and margin funding where a margin product applies.
    for name in ("brokerage_charge", "mtf_charge"):
        op.add_column("fills", sa.Column(name, AMOUNT, nullable=False,
                                         server_default=sa.text("0")))
    op.execute("UPDATE fills SET brokerage_charge = commission")

    op.add_column("quotes", sa.Column("bid_size", AMOUNT, nullable=False,
                                      server_default=sa.text("100000")))
    op.add_column("quotes", sa.Column("ask_size", AMOUNT, nullable=False,
                                      server_default=sa.text("100000")))
    op.add_column("quotes", sa.Column("seq", sa.BigInteger, nullable=False,
                                      server_default=sa.text("0")))
    op.create_check_constraint("sizes", "quotes", "bid_size >= 0 AND ask_size >= 0")

    op.create_table(
        "order_triggers",
        sa.Column("order_id", postgresql.UUID(as_uuid=True),
                  sa.ForeignKey("orders.id", ondelete="CASCADE",
                                name="fk_order_triggers_order_id_orders"), primary_key=True),
        sa.Column("symbol", sa.String(32), nullable=False),
        sa.Column("side", sa.String(4), nullable=False),
        sa.Column("direction", sa.String(3)),
        sa.Column("level", AMOUNT),
        sa.Column("mark", AMOUNT),
        sa.Column("queued_at", TS, nullable=False),
        sa.Column("expire_at", TS),
        sa.CheckConstraint("direction IN ('le', 'ge', 'any')",
                           name="ck_order_triggers_direction"),
        sa.CheckConstraint("(direction IN ('le', 'ge')) = (level IS NOT NULL)",
                           name="ck_order_triggers_level"),
        sa.CheckConstraint("direction IS NOT NULL OR expire_at IS NOT NULL",
                           name="ck_order_triggers_something"),
        sa.PrimaryKeyConstraint("order_id", name="pk_order_triggers"),
    )
    op.create_index("ix_order_triggers_book", "order_triggers",
                    ["symbol", "side", "direction", "level", "queued_at"],
                    postgresql_where=sa.text("direction IS NOT NULL"))
    op.create_index("ix_order_triggers_mark", "order_triggers", ["symbol", "side", "mark"],
                    postgresql_where=sa.text("mark IS NOT NULL"))
    op.create_index("ix_order_triggers_expiry", "order_triggers", ["expire_at"],
                    postgresql_where=sa.text("expire_at IS NOT NULL"))
    # Paper orders resting before this revision: on the book at their limit or their stop.
    untriggered = ("order_type IN ('STOP', 'STOP_LIMIT')"
                   " AND coalesce(previous_status, status) = 'ACCEPTED'")
    op.execute(f"""
        INSERT INTO order_triggers (order_id, symbol, side, direction, level, queued_at)
        SELECT id, symbol, side,
               CASE WHEN {untriggered} THEN CASE side WHEN 'BUY' THEN 'ge' ELSE 'le' END
                    WHEN order_type IN ('LIMIT', 'STOP_LIMIT')
                    THEN CASE side WHEN 'BUY' THEN 'le' ELSE 'ge' END
                    ELSE 'any' END,
               CASE WHEN {untriggered} THEN stop_price
                    WHEN order_type IN ('LIMIT', 'STOP_LIMIT') THEN price END,
               updated_at
        FROM orders
        WHERE broker = 'paper'
          AND status IN ('SUBMITTED', 'ACCEPTED', 'PARTIALLY_FILLED', 'PENDING_CANCEL')""")


def downgrade() -> None:
    op.drop_table("order_triggers")
    op.drop_column("order_events", "actor")
    op.drop_column("fills", "mtf_charge")
    op.drop_column("fills", "brokerage_charge")
    op.drop_constraint(op.f("ck_accounts_outside_session"), "accounts", type_="check")
    for name in ("halted_at", "risk_limits", "outside_session"):
        op.drop_column("accounts", name)
    op.drop_constraint(op.f("ck_quotes_sizes"), "quotes", type_="check")
    for name in ("seq", "ask_size", "bid_size"):
        op.drop_column("quotes", name)
    for name in ("gtd_expire_at", "order_class", "pending_terms"):
        op.drop_constraint(op.f(f"ck_orders_{name}"), "orders", type_="check")
    op.execute("DELETE FROM orders WHERE status IN ('TRIGGERED', 'PENDING_REPLACE')"
               " OR order_type = 'TRAILING_STOP' OR time_in_force = 'GTD'")
    _checks(OLD_STATUSES, OLD_TYPES, OLD_TIFS, ("PENDING_CANCEL",))
    for name in ("pending_terms", "parent_id", "order_class", "expire_at", "hwm",
                 "trail_percent", "trail_price"):
        op.drop_column("orders", name)
    op.alter_column("orders", "order_type", type_=sa.String(10))
