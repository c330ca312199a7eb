"""Bracket and oco orders at a real broker (the Groww stub; the worker's handlers in-process),
emulated by ordergate: exits placed as the entry fills, grown by modify, the sibling of a
filled exit canceled at the broker, both exits filling at once booked and flagged."""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import replace
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from api.orders import service
from shared.brokers.catalog import CAPABILITIES, Broker
from shared.messaging import tasks
from tests.integration.replacing import GROWW_BUY, ORDERS
from tests.stubs.groww.harness import GrowwStub
from worker.handlers.broker_cancel import cancel_at_broker
from worker.handlers.broker_modify import modify_at_broker
from worker.handlers.broker_orders import place_orders, sync_order
from worker.handlers.sweep import sweep
from worker.runtime import Runtime

pytestmark = pytest.mark.integration
D = Decimal
QUEUE = "broker.groww"
BRACKET: dict[str, Any] = {**GROWW_BUY, "order_class": "bracket",
                           "take_profit": {"limit_price": "1900"},
                           "stop_loss": {"stop_price": "1800"}}


async def place(client: httpx.AsyncClient, auth: dict[str, str], body: dict[str, Any]) -> str:
    response = await client.post(ORDERS, json=body, headers=auth)
    assert response.status_code == 202, response.text
    order_id: str = response.json()["id"]
    return order_id


async def _get(client: httpx.AsyncClient, auth: dict[str, str], order_id: str) -> Any:
    response = await client.get(f"{ORDERS}/{order_id}", headers=auth)
    assert response.status_code == 200, response.text
    return response.json()


async def _exits(engine: AsyncEngine, entry: str) -> list[Any]:
    """The entry's exits as stored: take-profit (LIMIT) before stop-loss, oldest pair first."""
    async with engine.connect() as conn:
        return list((await conn.execute(text(
            "SELECT id, status, side, order_type, quantity, price, stop_price, product,"
            " broker_order_id, broker_tag FROM orders WHERE parent_id = :id"
            " ORDER BY created_at, order_type"), {"id": uuid.UUID(entry)})).all())


async def _sent(runtime: Runtime) -> list[tuple[str, Any]]:
    """The (task, first argument) of each message waiting on Groww's queue."""
    raw = [json.loads(m) for m in await runtime.redis.lrange(QUEUE, 0, -1)]
    return [(m["headers"]["task"], json.loads(base64.b64decode(m["body"]))[0][0]) for m in raw]


async def _places(runtime: Runtime) -> set[str]:
    """The ids of the orders broker.place messages on Groww's queue ask to place."""
    return {order_id for task, ids in await _sent(runtime) if task == tasks.BROKER_PLACE
            for order_id in ids}


async def _working_entry(client: httpx.AsyncClient, auth: dict[str, str],
                         runtime: Runtime) -> tuple[str, str]:
    """A bracket entry placed at Groww and acknowledged there: (our id, Groww's id)."""
    entry = await place(client, auth, BRACKET)
    assert await place_orders(runtime, [entry]) == 1
    await sync_order(runtime, uuid.UUID(entry))
    order = await _get(client, auth, entry)
    assert order["status"] == "ACCEPTED"
    return entry, order["broker_order_id"]


async def _new_budget(runtime: Runtime) -> None:
    """Time passes: every account's Groww request budget is whole again (10 a second)."""
    keys = [key async for key in runtime.redis.scan_iter("ordergate:ratelimit:{groww:*")]
    if keys:
        await runtime.redis.delete(*keys)


async def _fill_and_report(runtime: Runtime, groww: GrowwStub, order_id: str,
                           broker_order_id: str, quantity: int, price: str) -> None:
    await _new_budget(runtime)
    groww.fill(broker_order_id, D(quantity), D(price))
    await sync_order(runtime, uuid.UUID(order_id))  # e.g. the fill's webhook arrives


async def _placed_exits(engine: AsyncEngine, runtime: Runtime, entry: str) -> list[Any]:
    """Place the entry's new exits as the broker.place task would, and hear Groww's ack."""
    await _new_budget(runtime)
    new = [str(leg.id) for leg in await _exits(engine, entry) if leg.status == "PENDING_NEW"]
    assert await place_orders(runtime, new) == len(new)
    for leg_id in new:
        await sync_order(runtime, uuid.UUID(leg_id))
    return await _exits(engine, entry)


async def _bracket_filled(client: httpx.AsyncClient, engine: AsyncEngine,
                          auth: dict[str, str], runtime: Runtime,
                          groww: GrowwStub) -> tuple[str, list[Any]]:
    """A bracket whose entry filled all 10 at Groww, its two exits working there."""
    entry, at_groww = await _working_entry(client, auth, runtime)
    await _fill_and_report(runtime, groww, entry, at_groww, 10, "1860")
    exits = await _placed_exits(engine, runtime, entry)
    assert [(leg.status, leg.quantity) for leg in exits] == [("ACCEPTED", D(10))] * 2
    return entry, exits


async def _position(engine: AsyncEngine, account: uuid.UUID) -> Decimal:
    async with engine.connect() as conn:
        held: Decimal = (await conn.execute(text(
            "SELECT quantity FROM positions WHERE account_id = :id AND symbol = 'INFY'"),
            {"id": account})).scalar_one()
    return held


async def test_a_bracket_at_groww_opens_its_exits_as_the_entry_fills_and_grows_them(
        client: httpx.AsyncClient, engine: AsyncEngine, auth: dict[str, str],
        account: uuid.UUID, runtime: Runtime, groww: GrowwStub) -> None:
    await runtime.redis.delete(QUEUE)
    entry, at_groww = await _working_entry(client, auth, runtime)
    assert await _exits(engine, entry) == []  # nothing exits before the entry fills
    await _fill_and_report(runtime, groww, entry, at_groww, 4, "1860")
    exits = await _exits(engine, entry)
    assert [(e.status, e.side, e.order_type, e.quantity, e.price, e.stop_price, e.product)
            for e in exits] == [
        ("PENDING_NEW", "SELL", "LIMIT", D(4), D(1900), None, "CNC"),
        ("PENDING_NEW", "SELL", "STOP", D(4), None, D(1800), "CNC")]
    assert {str(e.id) for e in exits} <= await _places(runtime)  # placed after commit
    exits = await _placed_exits(engine, runtime, entry)
    assert [groww.order(groww.order_tagged(e.broker_tag))["quantity"] for e in exits] == [4, 4]
    await _fill_and_report(runtime, groww, entry, at_groww, 6, "1860")
    grown = await _exits(engine, entry)
    assert [e.status for e in grown] == ["PENDING_REPLACE"] * 2  # no third or fourth exit
    modifies = [arg for task, arg in await _sent(runtime) if task == tasks.BROKER_MODIFY]
    assert sorted(modifies) == sorted(str(e.id) for e in grown)
    await _new_budget(runtime)
    for leg in grown:
        assert await modify_at_broker(runtime, str(leg.id))
    done = await _exits(engine, entry)
    assert [(e.status, e.quantity) for e in done] == [("ACCEPTED", D(10))] * 2
    assert [groww.order(e.broker_order_id)["quantity"] for e in done] == [10, 10]


async def test_when_the_take_profit_fills_at_groww_the_stop_loss_is_canceled_there(
        client: httpx.AsyncClient, engine: AsyncEngine, auth: dict[str, str],
        account: uuid.UUID, runtime: Runtime, groww: GrowwStub) -> None:
    entry, (take_profit, stop_loss) = await _bracket_filled(client, engine, auth, runtime,
                                                            groww)
    await _fill_and_report(runtime, groww, str(take_profit.id), take_profit.broker_order_id,
                           10, "1900")
    assert (await _get(client, auth, str(stop_loss.id)))["status"] == "PENDING_CANCEL"
    assert await cancel_at_broker(runtime, str(stop_loss.id))
    assert groww.order(stop_loss.broker_order_id)["order_status"] == "CANCELLED"
    assert [e.status for e in await _exits(engine, entry)] == ["FILLED", "CANCELED"]
    assert await _position(engine, account) == 0
    assert (await client.get("/api/v1/quality-checks", headers=auth)).json() == []


async def test_both_exits_filling_at_groww_are_booked_and_flagged_for_a_person(
        client: httpx.AsyncClient, engine: AsyncEngine, auth: dict[str, str],
        account: uuid.UUID, runtime: Runtime, groww: GrowwStub) -> None:
    entry, (take_profit, stop_loss) = await _bracket_filled(client, engine, auth, runtime,
                                                            groww)
    groww.fill(take_profit.broker_order_id, D(10), D("1900"))  # before ordergate hears of it,
    groww.fill(stop_loss.broker_order_id, D(10), D("1790"))  # the market ran through both
    await sync_order(runtime, take_profit.id)
    await sync_order(runtime, stop_loss.id)
    assert [(e.status, e.quantity) for e in await _exits(engine, entry)] == [
        ("FILLED", D(10)), ("FILLED", D(10))]
    assert await _position(engine, account) == -10  # what Groww did, not what was meant
    checks = (await client.get("/api/v1/quality-checks", headers=auth)).json()
    assert [(c["kind"], c["order_id"]) for c in checks] == [
        ("exits_oversold", str(stop_loss.id))]
    assert "sold 10 INFY more than the 10 they cover" in checks[0]["message"]


async def test_a_lost_place_message_of_an_exit_is_sent_again_by_the_sweeper(
        client: httpx.AsyncClient, engine: AsyncEngine, auth: dict[str, str],
        account: uuid.UUID, runtime: Runtime, groww: GrowwStub) -> None:
    entry, at_groww = await _working_entry(client, auth, runtime)
    await _fill_and_report(runtime, groww, entry, at_groww, 10, "1860")
    await runtime.redis.delete(QUEUE)  # Redis lost the place message (or the worker died)
    async with engine.begin() as conn:  # ... and the exits' dispatch deadline passes
        await conn.execute(text("UPDATE orders SET next_dispatch_at = now()"
                                " WHERE parent_id = :id"), {"id": uuid.UUID(entry)})
    await sweep(runtime)
    exits = await _exits(engine, entry)
    assert {str(e.id) for e in exits} <= await _places(runtime)
    placed = await _placed_exits(engine, runtime, entry)
    assert [e.status for e in placed] == ["ACCEPTED", "ACCEPTED"]
    assert all(groww.orders_tagged(e.broker_tag) == 1 for e in placed)


async def test_an_oco_pair_at_groww_is_placed_whole_and_a_fill_cancels_the_other_leg(
        client: httpx.AsyncClient, engine: AsyncEngine, auth: dict[str, str],
        account: uuid.UUID, runtime: Runtime, groww: GrowwStub) -> None:
    oco = await place(client, auth, {**GROWW_BUY, "side": "SELL", "price": "1900",
                                     "order_class": "oco", "stop_loss": {"stop_price": "1800"}})
    assert await place_orders(runtime, [oco]) == 1
    await sync_order(runtime, uuid.UUID(oco))
    [stop] = await _placed_exits(engine, runtime, oco)
    assert (stop.status, stop.order_type, stop.quantity) == ("ACCEPTED", "STOP", D(10))
    at_groww = (await _get(client, auth, oco))["broker_order_id"]
    await _fill_and_report(runtime, groww, oco, at_groww, 4, "1900")
    assert (await _get(client, auth, str(stop.id)))["status"] == "PENDING_REPLACE"
    assert await modify_at_broker(runtime, str(stop.id))
    assert groww.order(stop.broker_order_id)["quantity"] == 6  # as much taken off
    await _fill_and_report(runtime, groww, oco, at_groww, 6, "1900")
    assert await cancel_at_broker(runtime, str(stop.id))
    assert [e.status for e in await _exits(engine, oco)] == ["CANCELED"]
    assert groww.order(stop.broker_order_id)["order_status"] == "CANCELLED"


async def test_a_class_a_broker_cannot_keep_is_still_a_422_naming_why(
        client: httpx.AsyncClient, engine: AsyncEngine, auth: dict[str, str],
        account: uuid.UUID, monkeypatch: pytest.MonkeyPatch) -> None:
    # An IOC entry's exits are GTC orders, which Groww (DAY and IOC only) cannot carry.
    ioc = await client.post(ORDERS, json={**BRACKET, "time_in_force": "IOC"}, headers=auth)
    assert ioc.status_code == 422, ioc.text
    assert (ioc.json()["error"]["code"], ioc.json()["error"]["details"]["field"]) == (
        "unsupported_order_class", "time_in_force")
    no_modify = {**CAPABILITIES, Broker.GROWW: replace(CAPABILITIES[Broker.GROWW],
                                                       modify=False)}
    monkeypatch.setattr(service, "CAPABILITIES", no_modify)
    refused = await client.post(ORDERS, json=BRACKET, headers=auth)
    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert (error["code"], error["details"]["field"]) == ("unsupported_order_class",
                                                          "order_class")
    assert "cannot modify an order" in error["message"]
    async with engine.connect() as conn:
        stored = (await conn.execute(text("SELECT count(*) FROM orders"
                                          " WHERE account_id = :id"), {"id": account})).scalar()
    assert stored == 0
