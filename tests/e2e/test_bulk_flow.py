"""Ending orders in bulk with a real Celery worker, and buying power under real concurrency:
50 BUYs over real HTTP to two API processes at once."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.e2e.apiserver import api_process
from tests.e2e.conftest import ClientFactory, WorkerFactory, order_statuses, wait_for
from tests.helpers import register_and_login, set_quote, user_id_of

pytestmark = pytest.mark.e2e
ORDERS = "/api/v1/orders"
OPEN = {"PENDING_NEW", "SUBMITTED", "ACCEPTED", "TRIGGERED", "PARTIALLY_FILLED",
        "PENDING_CANCEL", "PENDING_REPLACE"}


async def _place(client: httpx.AsyncClient, auth: dict[str, str], **body: Any) -> str:
    response = await client.post(ORDERS, json=body, headers=auth)
    assert response.status_code == 202, response.text
    order_id: str = response.json()["id"]
    return order_id


async def _until(engine: AsyncEngine, ids: list[str], wanted: set[str], what: str) -> None:
    async def reached() -> bool:
        statuses = await order_statuses(engine, ids)
        return len(statuses) == len(ids) and set(statuses.values()) <= wanted

    await wait_for(reached, 30, what)


async def _open_orders(client: httpx.AsyncClient, auth: dict[str, str]) -> list[str]:
    listed = (await client.get(f"{ORDERS}?limit=500", headers=auth)).json()["items"]
    return [o["id"] for o in listed if o["status"] in OPEN]


async def _book(client: httpx.AsyncClient, engine: AsyncEngine,
                auth: dict[str, str]) -> list[str]:
    """Two filled positions and three resting orders on their symbols, all at the venue."""
    await set_quote(engine, "AAPL", "199.98", "200.02")
    await set_quote(engine, "MSFT", "99.99", "100.01")
    bought = [await _place(client, auth, symbol="AAPL", side="BUY", order_type="MARKET",
                           quantity="10"),
              await _place(client, auth, symbol="MSFT", side="BUY", order_type="MARKET",
                           quantity="5")]
    await _until(engine, bought, {"FILLED"}, "the buys to fill")
    resting = [
        await _place(client, auth, symbol="AAPL", side="BUY", order_type="LIMIT",
                     quantity="3", price="150", time_in_force="GTC"),
        await _place(client, auth, symbol="AAPL", side="SELL", order_type="LIMIT",
                     quantity="4", price="300", time_in_force="GTC"),
        await _place(client, auth, symbol="MSFT", side="SELL", order_type="STOP",
                     quantity="5", stop_price="80", time_in_force="GTC"),
    ]
    await _until(engine, resting, {"ACCEPTED"}, "the resting orders to be accepted")
    return resting


async def _assert_flat_and_quiet(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    assert await _open_orders(client, auth) == []
    positions = (await client.get("/api/v1/positions", headers=auth)).json()
    assert {p["symbol"]: p["quantity"] for p in positions} == {"AAPL": "0", "MSFT": "0"}
    account = (await client.get("/api/v1/account", headers=auth)).json()
    assert account["buying_power"] == account["cash"]  # nothing is held for anything


@dataclass(frozen=True)
class Booked:
    """A user with two filled positions and three orders resting on their symbols."""

    client: httpx.AsyncClient
    engine: AsyncEngine
    auth: dict[str, str]
    resting: list[str]


@pytest.fixture
async def booked(client_for: ClientFactory, worker_factory: WorkerFactory) -> Booked:
    worker_factory(os.environ["REDIS_URL"]).start()
    client, engine = await client_for(os.environ["REDIS_URL"])
    auth = await register_and_login(client)
    return Booked(client, engine, auth, await _book(client, engine, auth))


async def test_cancel_all_then_close_all_leaves_nothing_open_and_every_position_flat(
    booked: Booked,
) -> None:
    client, engine, auth = booked.client, booked.engine, booked.auth

    canceled = await client.delete(ORDERS, headers=auth)

    assert canceled.status_code == 207, canceled.text
    assert [i["order_id"] for i in canceled.json()["items"]] == booked.resting
    await _until(engine, booked.resting, {"CANCELED"}, "the worker to confirm every cancel")

    closed = await client.post("/api/v1/positions/close", headers=auth)

    items = closed.json()["items"]
    assert [(i["symbol"], i["http_status"], i["canceled"]) for i in items] == [
        ("AAPL", 202, []), ("MSFT", 202, [])]
    await _until(engine, [i["order"]["id"] for i in items], {"FILLED"}, "the closes to fill")
    await _assert_flat_and_quiet(client, auth)


async def test_close_all_alone_cancels_the_resting_orders_at_the_venue_first(
    booked: Booked,
) -> None:
    client, engine, auth = booked.client, booked.engine, booked.auth

    closed = await client.post("/api/v1/positions/close", headers=auth)

    items = closed.json()["items"]
    assert [(i["symbol"], i["http_status"], i["order"]["quantity"]) for i in items] == [
        ("AAPL", 202, "10"), ("MSFT", 202, "5")]
    assert sorted(c["order_id"] for i in items for c in i["canceled"]) == sorted(booked.resting)
    assert set((await order_statuses(engine, booked.resting)).values()) == {"CANCELED"}
    await _until(engine, [i["order"]["id"] for i in items], {"FILLED"}, "the closes to fill")
    await _assert_flat_and_quiet(client, auth)


# ---------------------------------------------------------------- real concurrency


@pytest.fixture
def api_server(tmp_path: Path) -> Iterator[str]:
    """The API served by uvicorn in two worker processes, over real TCP."""
    with api_process(tmp_path / "uvicorn.log", workers=2) as url:
        yield url


async def _reservation_of_one(http: httpx.AsyncClient, engine: AsyncEngine,
                              auth: dict[str, str], body: dict[str, Any]) -> Any:
    """What one such order reserves (fees included, if any), measured and then canceled."""
    probe = await _place(http, auth, **body)
    async with engine.connect() as conn:
        reserved = (await conn.execute(text("SELECT reserved_cash FROM orders WHERE id = :id"),
                                       {"id": probe})).scalar_one()
    assert (await http.delete(f"{ORDERS}/{probe}", headers=auth)).status_code == 202
    await _until(engine, [probe], {"CANCELED"}, "the probe to be canceled")
    return reserved


async def _buy_as_a_client_would(http: httpx.AsyncClient, auth: dict[str, str],
                                 body: dict[str, Any], n: int) -> httpx.Response:
    """POST the order; on a 503 (a loaded machine: no pooled connection in time) wait as told
    and send it again under the same Idempotency-Key, so a retry can never place it twice."""
    headers = {**auth, "Idempotency-Key": f"concurrent-buy-{n}"}
    for _ in range(10):
        response = await http.post(ORDERS, json=body, headers=headers)
        if response.status_code != 503:
            return response
        await asyncio.sleep(float(response.headers.get("retry-after", "1")))
    return response


async def test_fifty_concurrent_buys_against_cash_for_ten_accept_exactly_ten(
    api_server: str, client_for: ClientFactory, worker_factory: WorkerFactory,
) -> None:
    worker_factory(os.environ["REDIS_URL"]).start()
    _, engine = await client_for(os.environ["REDIS_URL"])  # for reading the books
    await set_quote(engine, "AAPL", "199.98", "200.02")
    limits = httpx.Limits(max_connections=60, max_keepalive_connections=60)
    async with httpx.AsyncClient(base_url=api_server, limits=limits, timeout=30) as http:
        auth = await register_and_login(http)
        body = {"symbol": "AAPL", "side": "BUY", "order_type": "LIMIT", "quantity": "100",
                "price": "100", "time_in_force": "GTC"}  # rests: the ask is 200.02
        each = await _reservation_of_one(http, engine, auth, body)
        async with engine.begin() as conn:  # cash for exactly ten of them
            await conn.execute(text("UPDATE accounts SET cash = :cash WHERE user_id = :user"
                                    " AND broker = 'paper'"),
                               {"cash": each * 10, "user": user_id_of(auth)})

        answers = await asyncio.gather(*(_buy_as_a_client_would(http, auth, body, n)
                                         for n in range(50)))

    statuses = [a.status_code for a in answers]
    assert (statuses.count(202), statuses.count(422)) == (10, 40), statuses
    assert {a.json()["error"]["code"] for a in answers if a.status_code == 422} == {
        "insufficient_buying_power"}
    accepted = [a.json()["id"] for a in answers if a.status_code == 202]
    await _until(engine, accepted, {"ACCEPTED"}, "the ten to rest at the paper exchange")
    async with engine.connect() as conn:
        books = (await conn.execute(text(
            "SELECT a.cash, a.reserved_cash, (SELECT sum(o.reserved_cash) FROM orders o"
            "  WHERE o.account_id = a.id) AS held,"
            " (SELECT count(*) FROM orders o WHERE o.account_id = a.id) AS orders"
            " FROM accounts a WHERE a.user_id = :user AND a.broker = 'paper'"),
            {"user": user_id_of(auth)})).one()
    assert books.cash == each * 10  # nothing was spent, and never below zero
    assert books.reserved_cash == books.held == each * 10  # every cent held by an order
    assert books.orders == 11  # the ten and the canceled probe: nothing else was stored
