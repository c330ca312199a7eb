"""GET /dashboard through the real API, PostgreSQL and the paper exchange's handlers run
in-process: each user sees only their accounts, and the figures are those of /positions and
/account, read in a handful of statements."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.helpers import register_and_login
from tests.integration.ending import (  # noqa: F401 - the fixtures
    RESTING_BUY,
    api_fixture,
    get_ok,
    place,
    quotes_fixture,
    runtime_fixture,
)
from tests.integration.test_order_responses import OpenApi
from worker.handlers.submit import submit_orders
from worker.runtime import Runtime

pytestmark = pytest.mark.integration

DASHBOARD = "/api/v1/dashboard"


class Statements:
    """The SQL statements the engine runs while it is counting."""

    def __init__(self) -> None:
        self.sql: list[str] = []

    def __call__(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        self.sql.append(statement)


@pytest.fixture
def statements(engine: AsyncEngine) -> Iterator[Statements]:
    seen = Statements()
    event.listen(engine.sync_engine, "before_cursor_execute", seen)
    yield seen
    event.remove(engine.sync_engine, "before_cursor_execute", seen)


async def _bought(client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime,
                  symbol: str, quantity: str) -> str:
    order_id = await place(client, auth, symbol=symbol, side="BUY", order_type="MARKET",
                           quantity=quantity)
    await submit_orders(runtime, [order_id])
    return order_id


async def test_each_user_sees_their_own_accounts_with_the_figures_of_positions_and_account(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, api: OpenApi,
) -> None:
    bought = await _bought(client, auth, runtime, "AAPL", "10")
    await place(client, auth, **RESTING_BUY)
    other = await register_and_login(client)
    await _bought(client, other, runtime, "MSFT", "3")

    response = await client.get(DASHBOARD, headers=auth)

    assert response.status_code == 200, response.text
    board = api.check(response)
    [account] = board["accounts"]
    summary = await get_ok(client, auth, "/api/v1/account")
    positions = await get_ok(client, auth, "/api/v1/positions")
    [fill] = (await get_ok(client, auth, f"/api/v1/orders/{bought}/fills"))["items"]
    for name in ("account_id", "broker", "currency", "cash", "buying_power", "equity",
                 "realized_pnl", "unrealized_pnl"):
        assert account[name] == summary[name], name
    assert account["exposure"] == positions
    assert Decimal(account["total_pnl"]) == (Decimal(summary["realized_pnl"])
                                             + Decimal(summary["unrealized_pnl"]))
    assert Decimal(account["reserved_cash"]) == Decimal("1000")  # the resting BUY's
    assert account["open_orders"] == 1
    [last] = account["last_fills"]
    assert (last["order_id"], last["symbol"], last["side"], last["quantity"]) == (
        bought, "AAPL", "BUY", "10")
    charges = Decimal(fill["commission"])
    # Bought today at the fill's price, marked at the last price (200.00).
    mark = Decimal(positions[0]["market_price"])
    assert Decimal(account["day_pnl"]) == (mark - Decimal(fill["price"])) * 10 - charges
    [usd] = board["totals"]
    assert (usd["currency"], usd["equity"], usd["day_pnl"]) == (
        "USD", account["equity"], account["day_pnl"])

    theirs = (await get_ok(client, other, DASHBOARD))["accounts"]
    assert [a["account_id"] for a in theirs] != [account["account_id"]]
    assert [row["symbol"] for a in theirs for row in a["exposure"]] == ["MSFT"]
    assert [f["symbol"] for a in theirs for f in a["last_fills"]] == ["MSFT"]
    assert theirs[0]["open_orders"] == 0


async def test_a_new_user_has_one_flat_paper_account(
    client: httpx.AsyncClient, auth: dict[str, str],
) -> None:
    [account] = (await get_ok(client, auth, DASHBOARD))["accounts"]

    assert (account["broker"], account["currency"]) == ("paper", "USD")
    assert account["exposure"] == account["last_fills"] == []
    assert (account["day_pnl"], account["total_pnl"], account["open_orders"]) == ("0", "0", 0)


async def test_a_trade_journaled_today_counts_in_the_day_pnl_and_the_positions(
    client: httpx.AsyncClient, auth: dict[str, str],
) -> None:
    response = await client.post("/api/v1/trades", headers=auth, json={
        "symbol": "AAPL", "side": "BUY", "quantity": "10", "price": "190",
        "executed_at": datetime.now(UTC).isoformat(), "brokerage_charge": "2"})
    assert response.status_code == 201, response.text

    [account] = (await get_ok(client, auth, DASHBOARD))["accounts"]

    # Marked at AAPL's last price, 200.
    assert Decimal(account["day_pnl"]) == (200 - 190) * 10 - 2
    assert [(row["symbol"], row["quantity"]) for row in account["exposure"]] == [("AAPL", "10")]
    assert account["last_fills"] == []  # fills of orders only


async def test_the_dashboard_reads_each_table_in_one_statement(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime,
    statements: Statements,
) -> None:
    await _bought(client, auth, runtime, "AAPL", "1")
    await _bought(client, auth, runtime, "MSFT", "1")
    await get_ok(client, auth, "/api/v1/me")  # warm: the caller's own look-ups
    statements.sql.clear()
    await get_ok(client, auth, "/api/v1/me")
    caller = len(statements.sql)
    statements.sql.clear()

    await get_ok(client, auth, DASHBOARD)

    assert len(statements.sql) - caller <= 4, statements.sql
    for table in ("positions", "orders", "fills", "trades"):
        reading = [s for s in statements.sql if f"FROM {table}" in s]
        assert len(reading) == 1, (table, reading)
