"""The journal's queries read its indexes, not the whole table, once it holds many trades."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.db.repositories import accounts, dashboard, portfolios, trades
from shared.domain.enums import OrderStatus
from shared.domain.orders import OPEN_STATUSES, PENDING_STATUSES, TERMINAL_STATUSES
from tests.helpers import user_id_of

pytestmark = pytest.mark.integration


def _scans(plan: dict[str, Any]) -> list[tuple[str, str | None, str | None]]:
    """Each node of a plan that reads a table or an index: type, table, index."""
    reads = "Relation Name" in plan or "Index Name" in plan
    found = ([(plan["Node Type"], plan.get("Relation Name"), plan.get("Index Name"))]
             if reads else [])
    for child in plan.get("Plans", []):
        found += _scans(child)
    return found


async def _plan(conn: AsyncConnection,
                query: Callable[[AsyncConnection], Awaitable[Any]]) -> list[Any]:
    """The plan of the one statement `query` runs, with the parameters it binds."""
    seen: list[tuple[str, Any]] = []

    def record(_c: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        seen.append((statement, parameters))

    event.listen(conn.sync_connection, "before_cursor_execute", record)
    try:
        await query(conn)
    finally:
        event.remove(conn.sync_connection, "before_cursor_execute", record)
    [(statement, parameters)] = seen
    result = await conn.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {statement}", parameters)
    plan: list[Any] = result.scalar_one()
    return _scans(plan[0]["Plan"])


async def test_the_trades_page_and_a_positions_history_use_the_journals_indexes(
    engine: AsyncEngine, auth: dict[str, str],
) -> None:
    user_id = user_id_of(auth)
    async with engine.begin() as conn:
        account = await accounts.get_for_user(conn, user_id)
        assert account is not None
        # 20,000 trades of other users' and this one's, in 18 symbols, over a year.
        await conn.execute(text(
            "INSERT INTO trades (id, user_id, account_id, symbol, side, quantity, price,"
            " executed_at)"
            " SELECT gen_random_uuid(), :user_id, :account_id,"
            " (SELECT symbol FROM instruments WHERE currency = 'USD' ORDER BY symbol"
            "  OFFSET g % 5 LIMIT 1), 'BUY', 1, 10,"
            " timestamptz '2026-01-01T00:00:00Z' + g * interval '20 minutes'"
            " FROM generate_series(0, 19999) g"),
            {"user_id": user_id, "account_id": account["id"]})
        await conn.execute(text("ANALYZE trades"))
        symbol = (await conn.execute(text(
            "SELECT symbol FROM trades WHERE account_id = :a LIMIT 1"),
            {"a": account["id"]})).scalar_one()

    async with engine.connect() as conn:
        page = await _plan(conn, lambda c: trades.page(
            c, user_id, symbol=None, since=datetime(2026, 3, 1, tzinfo=UTC), until=None,
            limit=100, after=(datetime(2026, 6, 1, tzinfo=UTC), uuid.uuid4())))
        history = await _plan(conn, lambda c: trades.history(c, account["id"], symbol))

    on_trades = [(node, index) for node, table, index in page if table == "trades" or index]
    assert ("ix_trades_user_executed" in {index for _, index in on_trades}), page
    assert all(node != "Seq Scan" for node, _ in on_trades), page
    journal = [(node, index) for node, table, index in history
               if table == "trades" or (index or "").startswith("ix_trades")]
    assert ("ix_trades_account_symbol" in {index for _, index in journal}), history
    assert all(node != "Seq Scan" for node, _ in journal), history


async def test_a_portfolios_positions_read_its_orders_and_trades_by_their_indexes(
    engine: AsyncEngine, auth: dict[str, str],
) -> None:
    user_id = user_id_of(auth)
    portfolio_id = uuid.uuid4()
    async with engine.begin() as conn:
        account = await accounts.get_for_user(conn, user_id)
        assert account is not None
        await conn.execute(text("INSERT INTO portfolios (id, user_id, name, name_key)"
                                " VALUES (:id, :user_id, 'plans', 'plans')"),
                           {"id": portfolio_id, "user_id": user_id})
        # 20,000 journaled trades, one in ten in the portfolio.
        await conn.execute(text(
            "INSERT INTO trades (id, user_id, account_id, symbol, side, quantity, price,"
            " executed_at, portfolio_id)"
            " SELECT gen_random_uuid(), :user_id, :account_id, 'AAPL', 'BUY', 1, 10,"
            " timestamptz '2026-01-01T00:00:00Z' + g * interval '20 minutes',"
            " CASE WHEN g % 10 = 0 THEN CAST(:portfolio_id AS uuid) END"
            " FROM generate_series(0, 19999) g"),
            {"user_id": user_id, "account_id": account["id"], "portfolio_id": portfolio_id})
        # And 20,000 orders (canceled, so no fills), one in ten in the portfolio.
        await conn.execute(text(
            "INSERT INTO orders (id, user_id, account_id, symbol, side, order_type, quantity,"
            " price, time_in_force, broker, status, portfolio_id)"
            " SELECT gen_random_uuid(), :user_id, :account_id, 'AAPL', 'BUY', 'LIMIT', 1, 10,"
            " 'GTC', 'paper', 'CANCELED',"
            " CASE WHEN g % 10 = 0 THEN CAST(:portfolio_id AS uuid) END"
            " FROM generate_series(0, 19999) g"),
            {"user_id": user_id, "account_id": account["id"], "portfolio_id": portfolio_id})
        await conn.execute(text("ANALYZE trades"))
        await conn.execute(text("ANALYZE orders"))

    async with engine.connect() as conn:
        plan = await _plan(conn, lambda c: portfolios.entries(c, user_id, portfolio_id))

    indexes = {index for _, _, index in plan}
    assert "ix_trades_portfolio" in indexes, plan
    # The fills branch reads by an index too (here the user's fills, then each one's order).
    assert all(node != "Seq Scan" for node, table, _ in plan
               if table in ("trades", "orders", "fills")), plan


async def test_dashboard_counts_open_orders_by_the_open_index(
    engine: AsyncEngine, auth: dict[str, str],
) -> None:
    user_id = user_id_of(auth)
    pending = sorted(status.value for status in PENDING_STATUSES)
    async with engine.begin() as conn:
        account = await accounts.get_for_user(conn, user_id)
        assert account is not None
        # 20,000 final orders, then one order of each open status.
        await conn.execute(text(
            "INSERT INTO orders (id, user_id, account_id, symbol, side, order_type, quantity,"
            " price, time_in_force, broker, status)"
            " SELECT gen_random_uuid(), :user_id, :account_id, 'AAPL', 'BUY', 'LIMIT', 1, 10,"
            " 'GTC', 'paper', (CAST(:final AS text[]))[g % 4 + 1]"
            " FROM generate_series(0, 19999) g"),
            {"user_id": user_id, "account_id": account["id"],
             "final": sorted(status.value for status in TERMINAL_STATUSES)})
        await conn.execute(text(
            "INSERT INTO orders (id, user_id, account_id, symbol, side, order_type, quantity,"
            " price, time_in_force, broker, status, previous_status, pending_terms)"
            " SELECT gen_random_uuid(), :user_id, :account_id, 'AAPL', 'BUY', 'LIMIT', 1, 10,"
            " 'GTC', 'paper', s,"
            " CASE WHEN s = ANY(CAST(:pending AS text[])) THEN 'ACCEPTED' END,"
            " CASE WHEN s = 'PENDING_REPLACE' THEN CAST('{}' AS jsonb) END"
            " FROM unnest(CAST(:statuses AS text[])) s"),
            {"user_id": user_id, "account_id": account["id"], "pending": pending,
             "statuses": sorted(status.value for status in OPEN_STATUSES)})
        await conn.execute(text("ANALYZE orders"))

    async with engine.connect() as conn:
        plan = await _plan(conn, lambda c: dashboard.open_orders(c, user_id))
        counted = await dashboard.open_orders(conn, user_id)
        flags: dict[str, bool] = dict((await conn.execute(text(
            "SELECT DISTINCT status, is_open FROM orders WHERE user_id = :user_id"),
            {"user_id": user_id})).all())

    # An index scan names both; a bitmap scan (chosen once the table is big) names the table in
    # its heap node and the index in its child. Either way, only the open index is read.
    assert "Seq Scan" not in {node for node, table, _ in plan if table == "orders"}
    assert {index for _, _, index in plan if index} == {"ix_orders_user_open"}
    assert counted == {account["id"]: len(OPEN_STATUSES)}
    # The generated column agrees with the domain on every status.
    assert flags == {status.value: status in OPEN_STATUSES for status in OrderStatus}
