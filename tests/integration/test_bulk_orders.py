"""Cancel-all, batches, position closes and the client_order_id filter, through the real API,
PostgreSQL and Redis; the paper exchange's handlers run in-process where an order must fill."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db.repositories import orders
from shared.domain import events as ev
from shared.domain.orders import Change
from shared.messaging.publish import publish_order_changes
from shared.settings import get_settings
from tests.helpers import register_and_login
from tests.integration.ending import (  # noqa: F401 - the fixtures
    ORDERS,
    RESTING_BUY,
    api_fixture,
    get_ok,
    place,
    quotes_fixture,
    runtime_fixture,
)
from tests.integration.test_order_responses import OpenApi
from worker.handlers.cancel import cancel_order
from worker.handlers.submit import submit_orders
from worker.runtime import Runtime

pytestmark = pytest.mark.integration






async def _buy_position(client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime,
                        symbol: str, quantity: str) -> None:
    order_id = await place(client, auth, symbol=symbol, side="BUY", order_type="MARKET",
                           quantity=quantity)
    assert await submit_orders(runtime, [order_id]) == 1
    assert (await get_ok(client, auth, f"{ORDERS}/{order_id}"))["status"] == "FILLED"


async def _holding_at_the_venue(client: httpx.AsyncClient, auth: dict[str, str],
                                runtime: Runtime) -> str:
    """10 AAPL held, 4 of them by a SELL resting at the paper exchange (cancels go through the
    venue); returns that SELL's id."""
    await _buy_position(client, auth, runtime, "AAPL", "10")
    resting = await place(client, auth, symbol="AAPL", side="SELL", order_type="LIMIT",
                          quantity="4", price="300")
    await submit_orders(runtime, [resting])
    return resting


async def _positions(client: httpx.AsyncClient, auth: dict[str, str]) -> dict[str, str]:
    return {p["symbol"]: p["quantity"] for p in await get_ok(client, auth, "/api/v1/positions")}


async def _buying_power(client: httpx.AsyncClient, auth: dict[str, str]) -> str:
    power: str = (await get_ok(client, auth, "/api/v1/account"))["buying_power"]
    return power


# ---------------------------------------------------------------- DELETE /orders


async def test_cancel_all_cancels_every_open_order_and_releases_what_they_held(
    client: httpx.AsyncClient, auth: dict[str, str], api: OpenApi, runtime: Runtime,
) -> None:
    waiting = await place(client, auth, **RESTING_BUY)
    resting = await place(client, auth, **{**RESTING_BUY, "symbol": "MSFT", "price": "50"})
    assert await submit_orders(runtime, [resting]) == 1  # ACCEPTED at the paper exchange
    filled = await place(client, auth, symbol="AAPL", side="BUY", order_type="MARKET",
                         quantity="1")
    await submit_orders(runtime, [filled])

    response = await client.delete(ORDERS, headers=auth)

    assert response.status_code == 207, response.text
    items = api.check(response)["items"]
    assert [(i["order_id"], i["http_status"], i["order"]["status"]) for i in items] == [
        (waiting, 202, "CANCELED"), (resting, 202, "PENDING_CANCEL")]
    assert all(i["error"] is None for i in items)
    assert await cancel_order(runtime, resting)  # the venue confirms
    assert (await get_ok(client, auth, f"{ORDERS}/{resting}"))["status"] == "CANCELED"
    assert (await get_ok(client, auth, f"{ORDERS}/{filled}"))["status"] == "FILLED"
    account = await get_ok(client, auth, "/api/v1/account")
    assert account["buying_power"] == account["cash"] == "99799.98"  # nothing held any more
    again = await client.delete(ORDERS, headers=auth)
    assert (again.status_code, again.json()) == (207, {"items": []})


async def test_cancel_all_for_one_symbol_leaves_the_other_symbols_open(
    client: httpx.AsyncClient, auth: dict[str, str],
) -> None:
    aapl = await place(client, auth, **RESTING_BUY)
    msft = await place(client, auth, **{**RESTING_BUY, "symbol": "MSFT", "price": "50"})

    response = await client.delete(ORDERS, params={"symbol": "aapl"}, headers=auth)

    assert response.status_code == 207
    assert [i["order_id"] for i in response.json()["items"]] == [aapl]
    assert (await get_ok(client, auth, f"{ORDERS}/{msft}"))["status"] == "PENDING_NEW"


async def test_cancel_all_cancels_an_order_whose_replace_waits_for_the_venue(
    client: httpx.AsyncClient, auth: dict[str, str], engine: AsyncEngine, runtime: Runtime,
    api: OpenApi, app: FastAPI,
) -> None:
    replacing = await place(client, auth, **RESTING_BUY)
    await submit_orders(runtime, [replacing])
    async with engine.begin() as conn:  # a replace still waiting for the venue's answer
        order = await orders.lock(conn, uuid.UUID(replacing))
        assert order is not None
        asked = ev.ReplaceRequested(replace(order.terms, price=Decimal("99")))
        saved = await orders.save(conn, Change(order).then(asked), actor="test")
    await publish_order_changes(app.state.redis, [saved], get_settings().order_cache_ttl_seconds)
    other = await place(client, auth, **{**RESTING_BUY, "quantity": "1"})

    response = await client.delete(ORDERS, headers=auth)

    superseded, canceled = api.check(response)["items"]
    assert (superseded["order_id"], superseded["http_status"]) == (replacing, 202)
    assert superseded["order"]["status"] == "PENDING_CANCEL"  # the cancel supersedes it
    assert (canceled["order_id"], canceled["order"]["status"]) == (other, "CANCELED")
    assert await cancel_order(runtime, replacing)
    assert (await get_ok(client, auth, f"{ORDERS}/{replacing}"))["status"] == "CANCELED"


async def test_cancel_all_reports_an_order_that_ended_before_its_turn_and_cancels_the_rest(
    client: httpx.AsyncClient, auth: dict[str, str], api: OpenApi,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ended = await place(client, auth, **RESTING_BUY)
    assert (await client.delete(f"{ORDERS}/{ended}", headers=auth)).status_code == 202
    other = await place(client, auth, **{**RESTING_BUY, "quantity": "1"})
    listed = [uuid.UUID(ended), uuid.UUID(other)]  # as listed open, just before `ended` ended
    monkeypatch.setattr(orders, "open_for_user", _returning(listed))

    response = await client.delete(ORDERS, headers=auth)

    refused, canceled = api.check(response)["items"]
    assert (refused["order_id"], refused["http_status"], refused["order"]) == (ended, 409, None)
    assert refused["error"]["code"] == "order_not_cancelable"
    assert refused["error"]["request_id"] == response.headers["x-request-id"]
    assert (canceled["order_id"], canceled["order"]["status"]) == (other, "CANCELED")


def _returning(ids: list[uuid.UUID]) -> Any:
    async def open_for_user(*_: Any, **__: Any) -> list[uuid.UUID]:
        return ids
    return open_for_user


async def test_cancel_all_never_touches_another_users_orders_or_accounts(
    client: httpx.AsyncClient, auth: dict[str, str],
) -> None:
    other = await register_and_login(client)
    theirs = await place(client, other, **RESTING_BUY)
    their_account = (await get_ok(client, other, "/api/v1/account"))["account_id"]

    mine = await client.delete(ORDERS, headers=auth)
    foreign = await client.delete(ORDERS, params={"account_id": their_account}, headers=auth)

    assert (mine.status_code, mine.json()["items"]) == (207, [])
    assert foreign.status_code == 404
    assert foreign.json()["error"]["details"]["field"] == "account_id"
    assert (await get_ok(client, other, f"{ORDERS}/{theirs}"))["status"] == "PENDING_NEW"
    bad = await client.delete(ORDERS, params={"account_id": "not-a-uuid"}, headers=auth)
    assert (bad.status_code, bad.json()["error"]["details"]["field"]) == (422, "account_id")
    assert (await client.delete(ORDERS)).status_code == 401


# ---------------------------------------------------------------- POST /orders/batch


def _item(cid: str, **changes: Any) -> dict[str, Any]:
    return {**RESTING_BUY, "quantity": "1", "client_order_id": cid, **changes}


async def test_batch_places_each_item_and_reports_a_bad_one_at_its_index(
    client: httpx.AsyncClient, auth: dict[str, str], api: OpenApi,
) -> None:
    batch = {"orders": [_item("b-1"), _item("b-2", quantity="-3"), _item("b-3"), "not an order",
                        _item("b-4", symbol="NOPE")]}

    response = await client.post(f"{ORDERS}/batch", json=batch, headers=auth)

    assert response.status_code == 207, response.text
    items = api.check(response)["items"]
    assert [(i["index"], i["client_order_id"], i["http_status"]) for i in items] == [
        (0, "b-1", 202), (1, "b-2", 422), (2, "b-3", 202), (3, None, 422), (4, "b-4", 422)]
    assert items[1]["error"]["details"]["field"] == "quantity"
    assert items[3]["error"]["code"] == "invalid_request"
    assert items[4]["error"]["details"]["field"] == "symbol"
    listed = (await get_ok(client, auth, ORDERS))["items"]
    assert sorted(o["client_order_id"] for o in listed) == ["b-1", "b-3"]
    assert {o["id"] for o in listed} == {items[0]["order"]["id"], items[2]["order"]["id"]}


async def test_batch_replayed_returns_the_first_results_and_places_nothing_new(
    client: httpx.AsyncClient, auth: dict[str, str],
) -> None:
    batch = {"orders": [_item("r-1"), _item("r-2", price="101")]}
    first = (await client.post(f"{ORDERS}/batch", json=batch, headers=auth)).json()["items"]
    await client.delete(f"{ORDERS}/{first[0]['order']['id']}", headers=auth)

    again = await client.post(f"{ORDERS}/batch", json=batch, headers=auth)

    replayed = again.json()["items"]
    assert [i["replayed"] for i in first] == [False, False]
    assert [(i["http_status"], i["replayed"]) for i in replayed] == [(202, True), (202, True)]
    assert [i["order"] for i in replayed] == [i["order"] for i in first]  # as first accepted
    assert len((await get_ok(client, auth, ORDERS))["items"]) == 2
    changed = {"orders": [_item("r-1", quantity="2")]}
    [reused] = (await client.post(f"{ORDERS}/batch", json=changed, headers=auth)).json()["items"]
    assert (reused["http_status"], reused["error"]["code"]) == (422, "idempotency_key_reused")
    assert len((await get_ok(client, auth, ORDERS))["items"]) == 2


async def test_batch_item_needs_its_own_client_order_id_and_one_post_orders_used_is_409(
    client: httpx.AsyncClient, auth: dict[str, str],
) -> None:
    await place(client, auth, **_item("single"))
    batch = {"orders": [{**RESTING_BUY, "quantity": "1"}, _item("single")]}

    items = (await client.post(f"{ORDERS}/batch", json=batch, headers=auth)).json()["items"]

    assert [(i["http_status"], i["error"]["details"]["field"]) for i in items] == [
        (422, "client_order_id"), (409, "client_order_id")]
    assert items[1]["error"]["code"] == "duplicate_client_order_id"
    assert len((await get_ok(client, auth, ORDERS))["items"]) == 1


async def test_batch_is_not_all_or_nothing_when_cash_runs_out_midway(
    client: httpx.AsyncClient, auth: dict[str, str],
) -> None:
    big = {"price": "100", "quantity": "600"}  # 60000 of the 100000 each
    batch = {"orders": [_item("c-1", **big), _item("c-2", **big), _item("c-3")]}

    items = (await client.post(f"{ORDERS}/batch", json=batch, headers=auth)).json()["items"]

    assert [i["http_status"] for i in items] == [202, 422, 202]
    assert items[1]["error"]["code"] == "insufficient_buying_power"
    assert await _buying_power(client, auth) == "39900"


@pytest.mark.parametrize(("body", "status", "field"), [
    ({"orders": []}, 422, "orders"),
    ({"orders": [_item(f"x-{n}") for n in range(101)]}, 422, "orders"),
    ({"orders": [_item("x")], "extra": 1}, 422, "extra"),
    ([_item("x")], 422, ""),
])
async def test_batch_envelope_errors_refuse_the_whole_batch_and_place_nothing(
    client: httpx.AsyncClient, auth: dict[str, str], body: Any, status: int, field: str,
) -> None:
    response = await client.post(f"{ORDERS}/batch", json=body, headers=auth)

    assert response.status_code == status, response.text
    assert response.json()["error"]["details"]["field"] == field
    assert (await get_ok(client, auth, ORDERS))["items"] == []


async def test_batch_body_goes_through_the_strict_parser(
    client: httpx.AsyncClient, auth: dict[str, str],
) -> None:
    raw = ('{"orders": [{"symbol": "AAPL", "side": "BUY", "side": "SELL", "order_type": '
           '"LIMIT", "quantity": "1", "price": "100", "client_order_id": "d-1"}]}')
    response = await client.post(f"{ORDERS}/batch", content=raw,
                                 headers={**auth, "content-type": "application/json"})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "duplicate_key"
    assert (await get_ok(client, auth, ORDERS))["items"] == []


async def test_list_orders_filters_by_client_order_id_exactly(
    client: httpx.AsyncClient, auth: dict[str, str],
) -> None:
    wanted = await place(client, auth, **_item("alpha-1"))
    await place(client, auth, **_item("alpha-10"))
    other = await register_and_login(client)
    await place(client, other, **_item("alpha-1"))

    found = await get_ok(client, auth, f"{ORDERS}?client_order_id=alpha-1")
    none = await get_ok(client, auth, f"{ORDERS}?client_order_id=alpha")

    assert [o["id"] for o in found["items"]] == [wanted]
    assert none["items"] == []


# ---------------------------------------------------------------- POST /positions/.../close


async def test_close_position_cancels_the_symbols_orders_then_sells_it_all(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, api: OpenApi,
) -> None:
    await _buy_position(client, auth, runtime, "AAPL", "10")
    holding = await place(client, auth, symbol="AAPL", side="SELL", order_type="LIMIT",
                          quantity="4", price="300")  # holds 4 of the 10 shares
    reopening = await place(client, auth, **RESTING_BUY)
    elsewhere = await place(client, auth, **{**RESTING_BUY, "symbol": "MSFT", "price": "50"})

    response = await client.post("/api/v1/positions/AAPL/close", headers=auth)

    assert response.status_code == 207, response.text
    [item] = api.check(response)["items"]
    assert [(c["order_id"], c["order"]["status"]) for c in item["canceled"]] == [
        (holding, "CANCELED"), (reopening, "CANCELED")]
    close = item["order"]
    assert (item["http_status"], close["side"], close["order_type"], close["quantity"]) == (
        202, "SELL", "MARKET", "10")
    assert close["client_order_id"].startswith("close-")
    assert await submit_orders(runtime, [close["id"]]) == 1
    assert (await _positions(client, auth))["AAPL"] == "0"
    assert (await get_ok(client, auth, f"{ORDERS}/{elsewhere}"))["status"] == "PENDING_NEW"
    found = await get_ok(client, auth, f"{ORDERS}?client_order_id={close['client_order_id']}")
    assert [o["status"] for o in found["items"]] == ["FILLED"]


@pytest.mark.parametrize(("amount", "closed"), [
    ({"percentage": "50"}, "5"), ({"percentage": 33}, "3"), ({"percentage": "100"}, "10"),
    ({"quantity": "7"}, "7"), ({}, "10"),
])
async def test_close_position_closes_a_percentage_rounded_down_or_a_quantity(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, amount: dict[str, Any],
    closed: str,
) -> None:
    await _buy_position(client, auth, runtime, "MSFT", "10")

    response = await client.post("/api/v1/positions/msft/close", json=amount, headers=auth)

    [item] = response.json()["items"]
    assert (item["http_status"], item["order"]["quantity"]) == (202, closed)
    await submit_orders(runtime, [item["order"]["id"]])
    assert (await _positions(client, auth))["MSFT"] == str(10 - int(closed))


@pytest.mark.parametrize(("amount", "field"), [
    ({"percentage": "5"}, "percentage"),  # half a share: less than one lot
    ({"percentage": "50", "quantity": "1"}, "percentage"),
    ({"quantity": "11"}, "quantity"),
])
async def test_close_position_refuses_a_bad_amount_and_cancels_or_places_nothing(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, amount: dict[str, Any],
    field: str,
) -> None:
    await _buy_position(client, auth, runtime, "MSFT", "10")
    resting = await place(client, auth, **{**RESTING_BUY, "symbol": "MSFT", "price": "50"})

    response = await client.post("/api/v1/positions/MSFT/close", json=amount, headers=auth)

    assert response.status_code == 207, response.text
    [item] = response.json()["items"]
    assert (item["http_status"], item["error"]["details"]["field"]) == (422, field)
    assert (item["canceled"], item["order"]) == ([], None)
    assert (await get_ok(client, auth, f"{ORDERS}/{resting}"))["status"] == "PENDING_NEW"
    assert len((await get_ok(client, auth, ORDERS))["items"]) == 2  # the buy and the resting one
    assert (await _positions(client, auth))["MSFT"] == "10"


@pytest.mark.parametrize(("body", "field"), [
    ({"percentage": "100.5"}, "percentage"), ({"quantity": "1e10"}, "quantity"),
    ({"percentage": "0"}, "percentage"), ({"percentage": "-2.5"}, "percentage"),
    ({"quantity": "0"}, "quantity"),
    ({"quantity": "1", "side": "BUY"}, "side"), ({"account_id": "paper"}, "account_id"),
])
async def test_close_position_with_an_invalid_body_is_422_naming_the_field(
    client: httpx.AsyncClient, auth: dict[str, str], body: dict[str, Any], field: str,
) -> None:
    response = await client.post("/api/v1/positions/MSFT/close", json=body, headers=auth)

    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"]["field"] == field


async def test_close_without_a_position_or_in_a_foreign_account_is_404(
    client: httpx.AsyncClient, auth: dict[str, str],
) -> None:
    other = await register_and_login(client)
    their_account = (await get_ok(client, other, "/api/v1/account"))["account_id"]

    none = await client.post("/api/v1/positions/AAPL/close", headers=auth)
    foreign = await client.post("/api/v1/positions/AAPL/close",
                                json={"account_id": their_account}, headers=auth)
    foreign_all = await client.post("/api/v1/positions/close",
                                    json={"account_id": their_account}, headers=auth)

    assert (none.status_code, none.json()["error"]["code"]) == (404, "position_not_found")
    assert (foreign.status_code, foreign.json()["error"]["details"]["field"]) == (
        404, "account_id")
    assert foreign_all.status_code == 404


async def test_close_all_positions_squares_off_every_symbol(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, api: OpenApi,
) -> None:
    await _buy_position(client, auth, runtime, "AAPL", "3")
    await _buy_position(client, auth, runtime, "MSFT", "5")

    response = await client.post("/api/v1/positions/close", headers=auth)

    items = api.check(response)["items"]
    assert [(i["symbol"], i["order"]["side"], i["order"]["quantity"]) for i in items] == [
        ("AAPL", "SELL", "3"), ("MSFT", "SELL", "5")]
    assert await submit_orders(runtime, [i["order"]["id"] for i in items]) == 2
    assert await _positions(client, auth) == {"AAPL": "0", "MSFT": "0"}
    flat = await client.post("/api/v1/positions/close", headers=auth)
    assert (flat.status_code, flat.json()) == (207, {"items": []})


async def test_close_waits_for_a_cancel_at_the_venue_then_sells_every_share(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime,
) -> None:
    resting = await _holding_at_the_venue(client, auth, runtime)

    async def venue_confirms_the_cancel() -> None:
        while (await get_ok(client, auth, f"{ORDERS}/{resting}"))["status"] != "PENDING_CANCEL":
            await asyncio.sleep(0.02)
        assert await cancel_order(runtime, resting)

    response, _ = await asyncio.gather(
        client.post("/api/v1/positions/AAPL/close", headers=auth), venue_confirms_the_cancel())

    [item] = response.json()["items"]
    assert [c["order"]["status"] for c in item["canceled"]] == ["PENDING_CANCEL"]
    assert (item["http_status"], item["order"]["quantity"]) == (202, "10")
    assert await submit_orders(runtime, [item["order"]["id"]]) == 1
    assert (await _positions(client, auth))["AAPL"] == "0"


async def test_close_refuses_while_a_venue_has_not_confirmed_a_cancel(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime,
) -> None:
    resting = await _holding_at_the_venue(client, auth, runtime)  # no worker here cancels it

    response = await client.post("/api/v1/positions/AAPL/close", headers=auth)

    [item] = response.json()["items"]
    assert (item["http_status"], item["error"]["code"]) == (409, "orders_still_canceling")
    assert item["error"]["details"]["order_ids"] == [resting]
    assert item["order"] is None
    assert len((await get_ok(client, auth, ORDERS))["items"]) == 2  # nothing new placed
