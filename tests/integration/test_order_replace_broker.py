"""PATCH /api/v1/orders/{id} at a broker (the Groww stub; the worker's handlers in-process):
PENDING_REPLACE until the broker answers, fills meanwhile booked, a lost task re-driven."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from decimal import Decimal

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from api.orders import modify
from shared.brokers.catalog import CAPABILITIES, Broker
from shared.messaging import tasks
from tests.integration.replacing import (
    GROWW_BUY,
    ORDERS,
    books,
    events,
    patch,
    place,
    resting,
    working_at_groww,
)
from tests.integration.test_order_responses import OpenApi
from tests.stubs.groww.harness import GrowwStub
from worker.handlers.broker_cancel import cancel_at_broker
from worker.handlers.broker_modify import modify_at_broker
from worker.handlers.broker_orders import place_orders, sync_order
from worker.handlers.sweep import sweep
from worker.runtime import Runtime

pytestmark = pytest.mark.integration


async def test_a_replace_at_a_broker_waits_for_its_confirmation_then_works_on_new_terms(
        client: httpx.AsyncClient, engine: AsyncEngine, auth: dict[str, str],
        account: uuid.UUID, runtime: Runtime, groww: GrowwStub) -> None:
    order_id = await working_at_groww(client, auth, runtime)
    response = await patch(client, auth, order_id, {"price": "1855.50", "quantity": "12"})
    assert response.status_code == 202, response.text
    assert (response.json()["status"], response.json()["price"]) == ("PENDING_REPLACE", "1860")
    assert await modify_at_broker(runtime, order_id)
    order = (await client.get(f"{ORDERS}/{order_id}", headers=auth)).json()
    assert (order["status"], order["price"], order["quantity"]) == ("ACCEPTED", "1855.5", "12")
    at_groww = groww.order(order["broker_order_id"])
    assert (at_groww["price"], at_groww["quantity"]) == (Decimal("1855.50"), 12)
    confirmed = [e for e in await events(engine, order_id)
                 if (e.detail or {}).get("event") == "Replaced"]
    assert [(e.to_status, e.actor) for e in confirmed] == [("ACCEPTED", "broker:groww")]
    assert not await modify_at_broker(runtime, order_id)  # a redelivery finds nothing to do


async def test_a_replace_the_broker_refuses_keeps_the_old_terms_and_books_the_fill(
        client: httpx.AsyncClient, engine: AsyncEngine, auth: dict[str, str],
        account: uuid.UUID, runtime: Runtime, groww: GrowwStub) -> None:
    order_id = await working_at_groww(client, auth, runtime)
    broker_order_id = (await books(engine, order_id))["order"]["broker_order_id"]
    groww.fill(broker_order_id, Decimal(3), Decimal("1860"))  # we have not heard of it yet
    assert (await patch(client, auth, order_id, {"quantity": "3"})).status_code == 202
    assert await modify_at_broker(runtime, order_id)
    order = (await client.get(f"{ORDERS}/{order_id}", headers=auth)).json()
    assert (order["status"], order["quantity"], order["filled_quantity"]) == (
        "PARTIALLY_FILLED", "10", "3")
    assert "refused the replace" in order["status_detail"]


async def test_fills_while_a_replace_waits_are_booked_and_it_then_completes(
        client: httpx.AsyncClient, engine: AsyncEngine, auth: dict[str, str],
        account: uuid.UUID, runtime: Runtime, groww: GrowwStub) -> None:
    order_id = await working_at_groww(client, auth, runtime)
    assert (await patch(client, auth, order_id, {"quantity": "20"})).status_code == 202
    broker_order_id = (await books(engine, order_id))["order"]["broker_order_id"]
    groww.fill(broker_order_id, Decimal(4), Decimal("1860"))
    await sync_order(runtime, uuid.UUID(order_id))  # e.g. the fill's webhook arrives
    waiting = (await client.get(f"{ORDERS}/{order_id}", headers=auth)).json()
    assert (waiting["status"], waiting["filled_quantity"]) == ("PENDING_REPLACE", "4")
    assert await modify_at_broker(runtime, order_id)
    done = (await client.get(f"{ORDERS}/{order_id}", headers=auth)).json()
    assert (done["status"], done["quantity"], done["filled_quantity"]) == (
        "PARTIALLY_FILLED", "20", "4")


async def test_a_lost_modify_task_is_sent_again_by_the_sweeper(
        client: httpx.AsyncClient, engine: AsyncEngine, auth: dict[str, str],
        account: uuid.UUID, runtime: Runtime, groww: GrowwStub) -> None:
    order_id = await working_at_groww(client, auth, runtime)
    redis: Redis = runtime.redis
    queue = "broker.groww"
    await redis.delete(queue)
    assert (await patch(client, auth, order_id, {"price": "1850"})).status_code == 202
    await redis.delete(queue)  # Redis lost the message
    async with engine.begin() as conn:  # ... and its dispatch deadline passes
        await conn.execute(text("UPDATE orders SET next_dispatch_at = now() WHERE id = :id"),
                           {"id": uuid.UUID(order_id)})
    await sweep(runtime)
    sent = [json.loads(base64.b64decode(json.loads(raw)["body"]))
            for raw in await redis.lrange(queue, 0, -1)]
    headers = [json.loads(raw)["headers"]["task"] for raw in await redis.lrange(queue, 0, -1)]
    assert (tasks.BROKER_MODIFY, [order_id]) in list(zip(headers, [s[0] for s in sent],
                                                         strict=True))
    assert await modify_at_broker(runtime, order_id)
    assert (await client.get(f"{ORDERS}/{order_id}", headers=auth)).json()["price"] == "1850"


async def test_a_broker_order_not_yet_acknowledged_or_being_canceled_is_409(
        client: httpx.AsyncClient, engine: AsyncEngine, auth: dict[str, str],
        account: uuid.UUID, runtime: Runtime, groww: GrowwStub) -> None:
    unsent = await place(client, auth, GROWW_BUY)
    with groww.outage():
        await place_orders(runtime, [unsent])
    canceling = await working_at_groww(client, auth, runtime)
    assert (await client.delete(f"{ORDERS}/{canceling}", headers=auth)).status_code == 202
    for order_id, status in ((unsent, "SUBMITTED"), (canceling, "PENDING_CANCEL")):
        response = await patch(client, auth, order_id, {"price": "1850"})
        assert response.status_code == 409, response.text
        assert response.json()["error"]["details"]["status"] == status


async def test_what_a_broker_cannot_change_is_a_422(
        client: httpx.AsyncClient, engine: AsyncEngine, auth: dict[str, str],
        account: uuid.UUID, runtime: Runtime, groww: GrowwStub,
        monkeypatch: pytest.MonkeyPatch) -> None:
    order_id = await working_at_groww(client, auth, runtime)
    validity = await patch(client, auth, order_id, {"time_in_force": "IOC"})
    assert validity.status_code == 422, validity.text
    assert validity.json()["error"]["details"]["field"] == "time_in_force"
    no_modify = {**CAPABILITIES, Broker.GROWW: replace(CAPABILITIES[Broker.GROWW],
                                                       modify=False)}
    monkeypatch.setattr(modify, "CAPABILITIES", no_modify)
    refused = await patch(client, auth, order_id, {"price": "1850"})
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["code"] == "unsupported_by_broker"


async def test_every_answer_of_the_route_is_one_its_openapi_document_declares(
        client: httpx.AsyncClient, engine: AsyncEngine, auth: dict[str, str],
        account: uuid.UUID, runtime: Runtime, groww: GrowwStub) -> None:
    api = OpenApi((await client.get("/openapi.json")).json())
    route = api.document["paths"]["/api/v1/orders/{order_id}"]["patch"]
    assert route["summary"].startswith("Change a working order")
    body = route["requestBody"]["content"]["application/json"]["schema"]
    assert set(body["properties"]) == {"quantity", "price", "stop_price", "trail_price",
                                       "trail_percent", "time_in_force", "expire_at"}
    paper = await resting(client, engine, runtime, auth)
    at_groww = await working_at_groww(client, auth, runtime)
    answers = [await patch(client, auth, paper, {"price": "99"}),
               await patch(client, auth, at_groww, {"price": "1850"}),
               await patch(client, auth, at_groww, {"price": "1840"}),  # one at a time: 409
               await patch(client, auth, paper, {"price": "99"}),  # nothing new: 422
               await patch(client, auth, str(uuid.uuid4()), {"price": "99"})]
    assert [a.status_code for a in answers] == [200, 202, 409, 422, 404]
    for answer in answers:
        api.check(answer)


async def test_a_modify_whose_answer_is_lost_is_looked_up_and_confirmed_without_resending(
        client: httpx.AsyncClient, engine: AsyncEngine, auth: dict[str, str],
        account: uuid.UUID, runtime: Runtime, groww: GrowwStub) -> None:
    order_id = await working_at_groww(client, auth, runtime)
    assert (await patch(client, auth, order_id, {"price": "1850"})).status_code == 202
    groww.stall_next_modify(2.0)  # applied at once, answered after the worker's 0.5 s timeout
    assert await modify_at_broker(runtime, order_id)
    order = (await client.get(f"{ORDERS}/{order_id}", headers=auth)).json()
    assert (order["status"], order["price"], order["status_detail"]) == (
        "ACCEPTED", "1850", None)
    asked = [e.detail["event"] for e in await events(engine, order_id)
             if (e.detail or {}).get("event") in ("ReplaceRequested", "Replaced")]
    assert asked == ["ReplaceRequested", "Replaced"]


async def test_a_cancel_supersedes_a_waiting_replace_and_the_modify_is_then_never_sent(
        client: httpx.AsyncClient, engine: AsyncEngine, auth: dict[str, str],
        account: uuid.UUID, runtime: Runtime, groww: GrowwStub) -> None:
    order_id = await working_at_groww(client, auth, runtime)
    assert (await patch(client, auth, order_id, {"price": "1850"})).status_code == 202
    canceling = await client.delete(f"{ORDERS}/{order_id}", headers=auth)
    assert canceling.status_code == 202, canceling.text
    assert canceling.json()["status"] == "PENDING_CANCEL"
    assert not await modify_at_broker(runtime, order_id)  # the replace is superseded
    broker_order_id = canceling.json()["broker_order_id"]
    assert groww.order(broker_order_id)["price"] == Decimal("1860")
    assert await cancel_at_broker(runtime, order_id)
    done = await books(engine, order_id)
    assert (done["order"]["status"], done["order"]["price"]) == ("CANCELED", Decimal("1860"))
    assert (done["order"]["pending_terms"], done["account"][1]) == (None, Decimal(0))


async def test_the_kill_switch_cancels_an_order_whose_replace_waits(
        client: httpx.AsyncClient, engine: AsyncEngine, auth: dict[str, str],
        account: uuid.UUID, runtime: Runtime, groww: GrowwStub) -> None:
    order_id = await working_at_groww(client, auth, runtime)
    assert (await patch(client, auth, order_id, {"quantity": "12"})).status_code == 202
    halted = await client.post("/api/v1/account/halt", params={"account_id": str(account)},
                               headers=auth)
    assert halted.status_code == 200, halted.text
    assert [(c["order_id"], c["http_status"], c["order"]["status"])
            for c in halted.json()["canceled"]] == [(order_id, 202, "PENDING_CANCEL")]
    assert await cancel_at_broker(runtime, order_id)
    assert (await books(engine, order_id))["order"]["status"] == "CANCELED"


@contextlib.asynccontextmanager
async def _answered_late(runtime: Runtime, groww: GrowwStub,
                         order_id: str) -> AsyncIterator[None]:
    """Run the body while the order's modify is at Groww (applied at once, its answer late)."""
    groww.stall_next_modify(1.0)
    modifying = asyncio.create_task(modify_at_broker(runtime, order_id))
    await asyncio.sleep(0.2)
    yield
    assert await modifying


async def test_a_replace_the_broker_confirms_after_a_cancel_was_asked_sets_the_terms_it_waits_on(
        client: httpx.AsyncClient, engine: AsyncEngine, auth: dict[str, str],
        account: uuid.UUID, runtime: Runtime, groww: GrowwStub) -> None:
    order_id = await working_at_groww(client, auth, runtime)
    assert (await patch(client, auth, order_id, {"price": "1850"})).status_code == 202
    async with _answered_late(runtime, groww, order_id):
        assert (await client.delete(f"{ORDERS}/{order_id}", headers=auth)).status_code == 202
    waiting = await books(engine, order_id)
    assert (waiting["order"]["status"], waiting["order"]["price"]) == (
        "PENDING_CANCEL", Decimal("1850"))
    assert waiting["order"]["pending_terms"] is None
    assert await cancel_at_broker(runtime, order_id)
    assert (await books(engine, order_id))["order"]["status"] == "CANCELED"


async def test_a_modify_whose_answer_is_lost_while_the_order_fills_leaves_it_filled(
        client: httpx.AsyncClient, engine: AsyncEngine, auth: dict[str, str],
        account: uuid.UUID, runtime: Runtime, groww: GrowwStub) -> None:
    order_id = await working_at_groww(client, auth, runtime)
    assert (await patch(client, auth, order_id, {"price": "1861"})).status_code == 202
    broker_order_id = (await books(engine, order_id))["order"]["broker_order_id"]
    async with _answered_late(runtime, groww, order_id):
        groww.fill(broker_order_id, Decimal(10), Decimal("1860"))  # all of it, before the answer
    done = (await client.get(f"{ORDERS}/{order_id}", headers=auth)).json()
    assert (done["status"], done["filled_quantity"]) == ("FILLED", "10")
