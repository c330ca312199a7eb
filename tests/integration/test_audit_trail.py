"""GET /orders/{id}/events: an order's audit trail, through the real API and PostgreSQL; the
paper exchange's handlers run in-process to move the order as the worker would."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.helpers import register_and_login, user_id_of
from tests.integration.ending import (  # noqa: F401 - the fixtures
    ORDERS,
    RESTING_BUY,
    api_fixture,
    place,
    quotes_fixture,
    runtime_fixture,
)
from tests.integration.test_order_responses import OpenApi
from worker.handlers.cancel import cancel_order
from worker.handlers.submit import submit_orders
from worker.runtime import Runtime

pytestmark = pytest.mark.integration

MARKET_BUY = {"symbol": "AAPL", "side": "BUY", "order_type": "MARKET", "quantity": "10"}





async def _trail(client: httpx.AsyncClient, auth: dict[str, str], order_id: str,
                 api: OpenApi, **params: Any) -> Any:
    response = await client.get(f"{ORDERS}/{order_id}/events", params=params, headers=auth)
    assert response.status_code == 200, response.text
    return api.check(response)


async def test_trail_lists_each_transition_oldest_first_with_who_caused_it_and_what_changed(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, api: OpenApi,
) -> None:
    order_id = await place(client, auth, **RESTING_BUY)
    await submit_orders(runtime, [order_id])
    assert (await client.delete(f"{ORDERS}/{order_id}", headers=auth)).status_code == 202
    await cancel_order(runtime, order_id)

    trail = await _trail(client, auth, order_id, api)

    items = trail["items"]
    assert trail["order_id"] == order_id
    assert [i["version"] for i in items] == list(range(1, len(items) + 1))
    assert [i["at"] for i in items] == sorted(i["at"] for i in items)
    created, *_, asked, canceled = items
    assert (created["event"], created["from_status"], created["to_status"]) == (
        "Created", None, "PENDING_NEW")
    assert created["actor"] == f"user:{user_id_of(auth)}"
    assert (asked["event"], asked["from_status"], asked["to_status"], asked["actor"]) == (
        "CancelRequested", "ACCEPTED", "PENDING_CANCEL", f"user:{user_id_of(auth)}")
    assert (canceled["event"], canceled["to_status"]) == ("Canceled", "CANCELED")
    assert canceled["changed"]["reserved_cash"] == {"old": "1000", "new": "0"}
    assert "ACCEPTED" in [i["to_status"] for i in items]


async def test_a_fill_shows_its_trade_and_the_order_values_it_changed(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, api: OpenApi,
) -> None:
    order_id = await place(client, auth, **MARKET_BUY)
    await submit_orders(runtime, [order_id])

    items = (await _trail(client, auth, order_id, api))["items"]

    [filled] = [i for i in items if i["event"] == "Filled"]
    assert filled["to_status"] == "FILLED"
    assert (filled["fields"]["quantity"], filled["fields"]["price"]) == ("10", "200.02")
    assert filled["fields"]["trade_id"]
    assert filled["changed"]["filled_quantity"] == {"old": "0", "new": "10"}
    assert filled["changed"]["avg_fill_price"] == {"old": None, "new": "200.02"}
    assert filled["actor"] == "paper"


async def test_a_cancel_before_dispatch_is_one_event_by_the_user(
    client: httpx.AsyncClient, auth: dict[str, str], api: OpenApi,
) -> None:
    order_id = await place(client, auth, **RESTING_BUY)
    await client.delete(f"{ORDERS}/{order_id}", headers=auth)

    _, canceled = (await _trail(client, auth, order_id, api))["items"]

    assert (canceled["event"], canceled["from_status"], canceled["to_status"]) == (
        "Canceled", "PENDING_NEW", "CANCELED")
    assert canceled["actor"] == f"user:{user_id_of(auth)}"


async def test_cancel_all_halt_and_close_each_name_the_user_and_the_route(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, api: OpenApi,
) -> None:
    user = f"user:{user_id_of(auth)}"
    by_cancel_all = await place(client, auth, **RESTING_BUY)
    await client.delete(ORDERS, headers=auth)
    by_halt = await place(client, auth, **RESTING_BUY)
    await client.post("/api/v1/account/halt", headers=auth)
    await client.delete("/api/v1/account/halt", headers=auth)
    bought = await place(client, auth, **{**MARKET_BUY, "quantity": "1"})
    await submit_orders(runtime, [bought])
    by_close = await place(client, auth, **RESTING_BUY)
    await client.post("/api/v1/positions/AAPL/close", headers=auth)

    actors = [(await _trail(client, auth, oid, api))["items"][-1]["actor"]
              for oid in (by_cancel_all, by_halt, by_close)]

    assert actors == [user, f"{user}:halt", f"{user}:close"]


async def test_trail_pages_by_version(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, api: OpenApi,
) -> None:
    order_id = await place(client, auth, **RESTING_BUY)
    await submit_orders(runtime, [order_id])
    await client.delete(f"{ORDERS}/{order_id}", headers=auth)
    everything = [i["version"] for i in (await _trail(client, auth, order_id, api))["items"]]

    first = await _trail(client, auth, order_id, api, limit=2)
    rest = await _trail(client, auth, order_id, api, after_version=first["next_after_version"])

    assert [i["version"] for i in first["items"]] == everything[:2]
    assert first["next_after_version"] == 2
    assert [i["version"] for i in rest["items"]] == everything[2:]
    assert rest["next_after_version"] is None
    beyond = await _trail(client, auth, order_id, api, after_version=99)
    assert (beyond["items"], beyond["next_after_version"]) == ([], None)


async def test_trail_of_another_users_order_or_no_order_is_404(
    client: httpx.AsyncClient, auth: dict[str, str],
) -> None:
    theirs = await place(client, await register_and_login(client), **RESTING_BUY)

    for order_id in (theirs, "00000000-0000-0000-0000-000000000000"):
        response = await client.get(f"{ORDERS}/{order_id}/events", headers=auth)
        assert response.status_code == 404, order_id
        assert response.json()["error"]["details"]["field"] == "order_id"
    # No UUID names no route at all (api.paths): the route's 404, whatever the caller.
    response = await client.get(f"{ORDERS}/not-an-id/events", headers=auth)
    assert (response.status_code, response.json()["error"]["code"]) == (404, "not_found")
    bad = await client.get(f"{ORDERS}/{theirs}/events?after_version=-1", headers=auth)
    assert (bad.status_code, bad.json()["error"]["details"]["field"]) == (422, "after_version")
    assert (await client.get(f"{ORDERS}/{theirs}/events")).status_code == 401
