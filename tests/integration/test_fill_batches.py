"""One delivery of many orders is booked as a batch (a few statements for all of them): each
user's positions, cash, fills, audit trail and stream numbering come out as if every order had
been submitted on its own."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.helpers import register_and_login, set_quote, user_id_of
from tests.integration.ending import (  # noqa: F401 - the fixtures
    ORDERS,
    get_ok,
    place,
    quotes_fixture,
    runtime_fixture,
)
from worker.handlers.submit import submit_orders
from worker.runtime import Runtime

pytestmark = pytest.mark.integration


def _market(symbol: str, side: str, quantity: str) -> dict[str, str]:
    return {"symbol": symbol, "side": side, "order_type": "MARKET", "quantity": quantity}


async def _positions(client: httpx.AsyncClient, auth: dict[str, str]) -> dict[str, Any]:
    rows = await get_ok(client, auth, "/api/v1/positions")
    return {row["symbol"]: (row["quantity"], row["avg_price"]) for row in rows}


async def _seqs(engine: AsyncEngine, auth: dict[str, str]) -> list[int]:
    async with engine.connect() as conn:
        result = await conn.execute(
            text("SELECT seq FROM order_events WHERE user_id = :u ORDER BY id"),
            {"u": user_id_of(auth)})
        return list(result.scalars())


async def test_one_delivery_of_several_users_orders_books_each_on_its_own_position_and_cash(
    client: httpx.AsyncClient, engine: AsyncEngine, runtime: Runtime, auth: dict[str, str],
) -> None:
    other = await register_and_login(client)
    bought = [await place(client, auth, **_market("AAPL", "BUY", "3")),
              await place(client, other, **_market("AAPL", "BUY", "4")),
              await place(client, auth, **_market("AAPL", "BUY", "2")),
              await place(client, auth, **_market("MSFT", "BUY", "1"))]

    assert await submit_orders(runtime, bought) == 4

    assert await _positions(client, auth) == {"AAPL": ("5", "200.02"), "MSFT": ("1", "100.01")}
    assert await _positions(client, other) == {"AAPL": ("4", "200.02")}
    mine, theirs = [await get_ok(client, a, "/api/v1/account") for a in (auth, other)]
    assert (mine["cash"], mine["buying_power"]) == ("98899.89", "98899.89")
    assert (theirs["cash"], theirs["buying_power"]) == ("99199.92", "99199.92")

    await set_quote(engine, "AAPL", "210.00", "210.04")
    later = [await place(client, auth, **_market("AAPL", "SELL", "5")),
             await place(client, other, **_market("MSFT", "BUY", "2"))]
    assert await submit_orders(runtime, later) == 2

    assert await _positions(client, auth) == {"AAPL": ("0", "0"), "MSFT": ("1", "100.01")}
    assert await _positions(client, other) == {"AAPL": ("4", "200.02"), "MSFT": ("2", "100.01")}
    mine = await get_ok(client, auth, "/api/v1/account")
    assert (mine["cash"], mine["realized_pnl"]) == ("99949.89", "49.9")
    for who, order_id in [(auth, bought[0]), (other, bought[1]), (auth, later[0])]:
        fills = await get_ok(client, who, f"{ORDERS}/{order_id}/fills")
        assert len(fills["items"]) == 1
        trail = await get_ok(client, who, f"{ORDERS}/{order_id}/events")
        assert [item["to_status"] for item in trail["items"]] == [
            "PENDING_NEW", "SUBMITTED", "ACCEPTED", "FILLED"]
    for who in (auth, other):  # the stream's numbering: every event once, in commit order
        seqs = await _seqs(engine, who)
        assert seqs == list(range(1, len(seqs) + 1))


async def test_a_delivery_leaves_out_an_order_another_transaction_holds_without_waiting(
    client: httpx.AsyncClient, engine: AsyncEngine, runtime: Runtime, auth: dict[str, str],
) -> None:
    free = await place(client, auth, **_market("AAPL", "BUY", "1"))
    held = await place(client, auth, **_market("MSFT", "BUY", "1"))

    async with engine.begin() as other:  # another delivery (or the sweeper) has it
        await other.execute(text("SELECT id FROM orders WHERE id = :id FOR UPDATE"),
                            {"id": held})
        # Waiting for that lock could only end in a statement timeout: the holder commits
        # only after these return.
        assert await asyncio.wait_for(submit_orders(runtime, [held]), 60) == 0
        assert await asyncio.wait_for(submit_orders(runtime, [held, free]), 60) == 1

    statuses = [(await get_ok(client, auth, f"{ORDERS}/{order_id}"))["status"]
                for order_id in (free, held)]
    assert statuses == ["FILLED", "PENDING_NEW"]  # still due: the sweeper re-drives it
    assert await submit_orders(runtime, [held]) == 1
    assert (await get_ok(client, auth, f"{ORDERS}/{held}"))["status"] == "FILLED"


async def test_orders_of_one_delivery_share_the_size_at_the_touch_in_the_order_they_arrived(
    client: httpx.AsyncClient, engine: AsyncEngine, runtime: Runtime, auth: dict[str, str],
) -> None:
    other = await register_and_login(client)
    await set_quote(engine, "AAPL", "199.98", "200.02", ask_size="5")
    first = await place(client, auth, **_market("AAPL", "BUY", "3"))
    second = await place(client, other, **_market("AAPL", "BUY", "4"))

    assert await submit_orders(runtime, [second, first]) == 2

    done, resting = [await get_ok(client, who, f"{ORDERS}/{order_id}")
                     for who, order_id in [(auth, first), (other, second)]]
    assert (done["status"], done["filled_quantity"]) == ("FILLED", "3")
    assert (resting["status"], resting["filled_quantity"]) == ("PARTIALLY_FILLED", "2")
    assert await _positions(client, other) == {"AAPL": ("2", "200.02")}
    async with engine.connect() as conn:
        left = (await conn.execute(text("SELECT ask_size FROM quotes WHERE symbol = 'AAPL'"))
                ).scalar_one()
    assert left == 0


async def test_events_committed_together_are_numbered_once_even_if_numbering_ran_early(
    client: httpx.AsyncClient, engine: AsyncEngine, auth: dict[str, str],
) -> None:
    order_id = uuid.UUID(await place(client, auth, **_market("AAPL", "BUY", "1")))
    insert = text("INSERT INTO order_events (order_id, user_id, version, to_status, actor)"
                  " SELECT id, user_id, :version, status, 'test' FROM orders WHERE id = :id")
    async with engine.begin() as conn:
        for version in (101, 102, 103):
            await conn.execute(insert, {"id": order_id, "version": version})
        # Numbering runs now for these three, then again at commit for the two below.
        await conn.execute(text("SET CONSTRAINTS ALL IMMEDIATE"))
        await conn.execute(text("SET CONSTRAINTS ALL DEFERRED"))
        for version in (104, 105):
            await conn.execute(insert, {"id": order_id, "version": version})

    assert await _seqs(engine, auth) == [1, 2, 3, 4, 5, 6]
