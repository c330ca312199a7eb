"""PATCH /api/v1/orders/{id} on paper: replaced at once in one transaction, the reservation
following the new terms; every refusal changes nothing at all; a replace racing a fill."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from api.main import create_app
from shared.messaging import tasks
from shared.settings import Settings
from tests.helpers import register_and_login, user_id_of
from tests.integration.replacing import (
    ORDERS,
    RESTING_BUY,
    books,
    buying_power,
    events,
    fill,
    patch,
    place,
    resting,
)
from worker.handlers.cancel import cancel_order
from worker.handlers.matching import match_symbols
from worker.runtime import Runtime

pytestmark = pytest.mark.integration


async def test_a_resting_paper_order_is_replaced_at_once_holding_cash_for_its_new_terms(
        client: httpx.AsyncClient, engine: AsyncEngine, runtime: Runtime,
        auth: dict[str, str]) -> None:
    order_id = await resting(client, engine, runtime, auth)
    assert await buying_power(client, auth) == "99000"
    response = await patch(client, auth, order_id, {"quantity": "20", "price": 101.5})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["status"], body["quantity"], body["price"]) == ("ACCEPTED", "20", "101.5")
    assert (await client.get(f"{ORDERS}/{order_id}", headers=auth)).json() == body
    assert await buying_power(client, auth) == "97970"  # 20 × 101.5 held now
    *_, asked, done = await events(engine, order_id)
    actor = f"user:{user_id_of(auth)}"
    assert (asked.from_status, asked.to_status, asked.actor) == ("ACCEPTED", "PENDING_REPLACE",
                                                                  actor)
    assert asked.detail["terms"]["price"] == "101.5"
    assert (done.from_status, done.to_status, done.actor) == ("PENDING_REPLACE", "ACCEPTED",
                                                               actor)
    assert done.detail["changed"]["price"] == ["100", "101.5"]
    assert done.detail["changed"]["reserved_cash"] == ["1000", "2030"]

    smaller = await patch(client, auth, order_id, {"quantity": "4"})
    assert smaller.status_code == 200, smaller.text
    assert await buying_power(client, auth) == "99594"  # 4 × 101.5: the rest is released


async def test_a_replace_beyond_buying_power_is_refused_and_changes_nothing(
        client: httpx.AsyncClient, engine: AsyncEngine, runtime: Runtime,
        auth: dict[str, str]) -> None:
    order_id = await resting(client, engine, runtime, auth)
    before = await books(engine, order_id)
    response = await patch(client, auth, order_id, {"price": "150", "quantity": "700"})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert (error["code"], error["details"]["field"]) == ("insufficient_buying_power",
                                                          "quantity")
    assert (error["details"]["required"], error["details"]["available"]) == ("104000", "99000")
    assert await books(engine, order_id) == before


async def test_a_sell_replace_beyond_the_free_position_is_refused_and_changes_nothing(
        client: httpx.AsyncClient, engine: AsyncEngine, runtime: Runtime,
        auth: dict[str, str]) -> None:
    bought = await resting(client, engine, runtime, auth, price="201.00")  # fills at 200.02
    assert (await client.get(f"{ORDERS}/{bought}", headers=auth)).json()["status"] == "FILLED"
    sell = await resting(client, engine, runtime, auth, side="SELL", quantity="6",
                          price="300.00")
    before = await books(engine, sell)
    assert before["reserved_shares"] == 6
    refused = await patch(client, auth, sell, {"quantity": "11"})
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["code"] == "insufficient_position"
    assert await books(engine, sell) == before
    done = await patch(client, auth, sell, {"quantity": "10"})
    assert done.status_code == 200, done.text
    assert (await books(engine, sell))["reserved_shares"] == 10


@pytest.mark.parametrize(("body", "code", "field"), [
    ({}, "nothing_to_replace", "body"),
    ({"price": "100"}, "nothing_to_replace", "body"),
    ({"symbol": "MSFT"}, "field_not_replaceable", "symbol"),
    ({"order_type": "MARKET"}, "field_not_replaceable", "order_type"),
    ({"price": "100.005"}, "invalid_order", "price"),
    ({"price": "-1"}, "invalid_order", "price"),
    ({"stop_price": "90"}, "invalid_order", "stop_price"),
    ({"quantity": None}, "invalid_request", "quantity"),
    ({"quantity": "1e20"}, "invalid_request", "quantity"),
    ({"price": " 1 "}, "invalid_request", "price"),
    ({"time_in_force": "GTD", "expire_at": "2020-01-01T00:00:00Z"}, "invalid_order",
     "expire_at"),
    ({"time_in_force": "GTD"}, "invalid_order", "expire_at"),
    ({"trail_price": "1"}, "invalid_order", "trail_price"),
    ({"colour": "red"}, "invalid_request", "colour"),
])
async def test_an_invalid_replace_is_a_422_naming_the_field_and_changes_nothing(
        client: httpx.AsyncClient, engine: AsyncEngine, runtime: Runtime, auth: dict[str, str],
        body: dict[str, Any], code: str, field: str) -> None:
    order_id = await resting(client, engine, runtime, auth)
    before = await books(engine, order_id)
    response = await patch(client, auth, order_id, body)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert (error["code"], error["details"]["field"]) == (code, field), error
    assert await books(engine, order_id) == before


async def test_a_body_repeating_a_key_is_a_400(
        client: httpx.AsyncClient, engine: AsyncEngine, runtime: Runtime,
        auth: dict[str, str]) -> None:
    order_id = await resting(client, engine, runtime, auth)
    response = await client.patch(f"{ORDERS}/{order_id}", content=b'{"price": 1, "price": 2}',
                                  headers={**auth, "content-type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "duplicate_key"


async def test_quantity_never_goes_below_the_filled_and_cut_to_it_the_order_is_filled(
        client: httpx.AsyncClient, engine: AsyncEngine, runtime: Runtime,
        auth: dict[str, str]) -> None:
    order_id = await resting(client, engine, runtime, auth)
    assert await fill(runtime, order_id, "4")
    below = await patch(client, auth, order_id, {"quantity": "3"})
    assert below.status_code == 422
    assert below.json()["error"]["details"]["field"] == "quantity"
    cut = await patch(client, auth, order_id, {"quantity": "4"})
    assert cut.status_code == 200, cut.text
    assert (cut.json()["status"], cut.json()["filled_quantity"]) == ("FILLED", "4")
    account = (await client.get("/api/v1/account", headers=auth)).json()
    assert account["buying_power"] == account["cash"] == "99600"  # nothing held any more


async def test_gtd_to_gtc_drops_the_expiry_and_a_future_gtd_is_taken(
        client: httpx.AsyncClient, engine: AsyncEngine, runtime: Runtime,
        auth: dict[str, str]) -> None:
    expire_at = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)
    order_id = await resting(client, engine, runtime, auth, time_in_force="GTD",
                              expire_at=expire_at.isoformat())
    gtc = await patch(client, auth, order_id, {"time_in_force": "gtc"})
    assert gtc.status_code == 200, gtc.text
    assert (gtc.json()["time_in_force"], gtc.json()["expire_at"]) == ("GTC", None)
    later = expire_at + timedelta(days=1)
    gtd = await patch(client, auth, order_id, {"time_in_force": "GTD",
                                                "expire_at": later.isoformat()})
    assert gtd.status_code == 200, gtd.text
    assert datetime.fromisoformat(gtd.json()["expire_at"]) == later


async def test_absent_and_foreign_orders_are_404(
        client: httpx.AsyncClient, engine: AsyncEngine, runtime: Runtime,
        auth: dict[str, str]) -> None:
    order_id = await resting(client, engine, runtime, auth)
    stranger = await register_and_login(client)
    for who, oid in ((stranger, order_id), (auth, str(uuid.uuid4())), (auth, "not-an-id")):
        response = await patch(client, who, oid, {"price": "99"})
        assert response.status_code == 404, response.text
    assert (await books(engine, order_id))["order"]["price"] == Decimal(100)


async def test_a_final_or_not_yet_working_paper_order_is_409(
        client: httpx.AsyncClient, engine: AsyncEngine, runtime: Runtime,
        auth: dict[str, str]) -> None:
    filled = await resting(client, engine, runtime, auth)
    assert await fill(runtime, filled, "10")
    canceled, canceling = [await resting(client, engine, runtime, auth) for _ in range(2)]
    for order_id in (canceled, canceling):
        assert (await client.delete(f"{ORDERS}/{order_id}", headers=auth)).status_code == 202
    assert await cancel_order(runtime, canceled)  # the paper exchange completes one cancel
    waiting = await place(client, auth, RESTING_BUY)  # PENDING_NEW: no worker took it yet
    for order_id, status in ((filled, "FILLED"), (canceled, "CANCELED"),
                             (canceling, "PENDING_CANCEL"), (waiting, "PENDING_NEW")):
        response = await patch(client, auth, order_id, {"price": "99"})
        assert response.status_code == 409, response.text
        error = response.json()["error"]
        assert (error["code"], error["details"]["status"]) == ("order_not_replaceable", status)
        assert f"order is {status}" in error["message"]


async def test_a_replace_racing_a_fill_is_either_done_first_or_too_late_never_both_lost(
        client: httpx.AsyncClient, engine: AsyncEngine, runtime: Runtime,
        auth: dict[str, str]) -> None:
    replaced = 0
    for _ in range(12):
        order_id = await resting(client, engine, runtime, auth)
        response, booked = await asyncio.gather(
            patch(client, auth, order_id, {"quantity": "20"}), fill(runtime, order_id, "10"))
        assert booked  # the fill stands, whichever came first
        order = (await client.get(f"{ORDERS}/{order_id}", headers=auth)).json()
        if response.status_code == 200:
            replaced += 1
            assert (order["status"], order["quantity"], order["filled_quantity"]) == (
                "PARTIALLY_FILLED", "20", "10")
        else:
            assert response.status_code == 409, response.text
            assert "FILLED" in response.json()["error"]["message"]
            assert (order["status"], order["quantity"]) == ("FILLED", "10")
    async with engine.connect() as conn:  # what is held is exactly what open orders hold
        held, cash = (await conn.execute(text(
            "SELECT reserved_cash, cash FROM accounts WHERE user_id = :u AND broker = 'paper'"),
            {"u": user_id_of(auth)})).one()
        holding = (await conn.execute(text(
            "SELECT coalesce(sum(reserved_cash), 0) FROM orders WHERE user_id = :u"),
            {"u": user_id_of(auth)})).scalar_one()
    assert held == holding == replaced * Decimal(1000)  # 10 left of 20 @ 100 on each
    assert cash == Decimal(100000) - 12 * Decimal(1000)


async def test_a_replace_that_makes_a_limit_marketable_rings_the_paper_exchange_which_fills_it(
        client: httpx.AsyncClient, engine: AsyncEngine, runtime: Runtime,
        auth: dict[str, str]) -> None:
    order_id = await resting(client, engine, runtime, auth)
    redis: Redis = runtime.redis
    await redis.delete(tasks.ORDERS_QUEUE)
    response = await patch(client, auth, order_id, {"price": "201.00"})
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "ACCEPTED"  # the exchange, not the API, fills it
    doorbells = [json.loads(base64.b64decode(message["body"]))[0]
                 for message in map(json.loads, await redis.lrange(tasks.ORDERS_QUEUE, 0, -1))
                 if message["headers"]["task"] == tasks.PAPER_MATCH]
    assert len(doorbells) == 1
    for args in doorbells:  # what the worker's paper.match task does with the message
        await match_symbols(runtime, *args)
    filled = (await client.get(f"{ORDERS}/{order_id}", headers=auth)).json()
    assert (filled["status"], filled["filled_quantity"], filled["avg_fill_price"]) == (
        "FILLED", "10", "200.02")


@pytest.fixture
async def client_with_fees() -> AsyncIterator[httpx.AsyncClient]:
    """The API of a deployment whose paper exchange charges IBKR Pro Fixed brokerage."""
    application = create_app(Settings(paper_fee_profile="ibkr_fixed"))
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield c


async def test_a_replaced_buy_holds_the_most_its_new_terms_can_pay_in_fees_too(
        client_with_fees: httpx.AsyncClient, engine: AsyncEngine, runtime: Runtime) -> None:
    client = client_with_fees
    auth = await register_and_login(client)
    order_id = await resting(client, engine, runtime, auth)
    assert await buying_power(client, auth) == "98999"  # 1000 + the USD 1.00 minimum
    response = await patch(client, auth, order_id, {"quantity": "300"})
    assert response.status_code == 200, response.text
    assert await buying_power(client, auth) == "69998.5"  # 30000 + 300 × 0.005


async def _limit(client: httpx.AsyncClient, auth: dict[str, str], **limits: str) -> None:
    response = await client.patch("/api/v1/account/settings", headers=auth,
                                  json={"risk_limits": limits})
    assert response.status_code == 200, response.text


async def test_a_replace_cannot_take_an_order_past_the_accounts_max_order_value(
        client: httpx.AsyncClient, engine: AsyncEngine, runtime: Runtime,
        auth: dict[str, str]) -> None:
    order_id = await resting(client, engine, runtime, auth)
    await _limit(client, auth, max_order_value="1500")
    before = await books(engine, order_id)
    refused = await patch(client, auth, order_id, {"quantity": "20"})
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["code"] == "max_order_value_exceeded"
    assert await books(engine, order_id) == before
    assert (await patch(client, auth, order_id, {"quantity": "15"})).status_code == 200


async def test_a_replace_counts_its_new_unfilled_part_once_against_max_position_value(
        client: httpx.AsyncClient, engine: AsyncEngine, runtime: Runtime,
        auth: dict[str, str]) -> None:
    order_id = await resting(client, engine, runtime, auth)
    await resting(client, engine, runtime, auth)  # 10 more working in AAPL at 100
    await _limit(client, auth, max_position_value="2500")
    refused = await patch(client, auth, order_id, {"quantity": "20"})  # (10 + 20) × 100
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["code"] == "max_position_value_exceeded"
    assert (await patch(client, auth, order_id, {"quantity": "15"})).status_code == 200
