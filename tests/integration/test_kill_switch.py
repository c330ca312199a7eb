"""The kill switch (POST/GET/DELETE /account/halt) through the real API, PostgreSQL and Redis;
the paper exchange's handlers run in-process where the venue must answer."""

from __future__ import annotations

import uuid
from decimal import Decimal

import httpx
import pytest
from fastapi import FastAPI

from shared.db.repositories import orders
from shared.domain.enums import OrderType, Side, TimeInForce
from shared.domain.risk import OrderRequest
from tests.helpers import register_and_login, user_id_of
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

HALT = "/api/v1/account/halt"





async def test_halt_cancels_everything_open_and_says_what_it_canceled(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, api: OpenApi,
) -> None:
    waiting = await place(client, auth, **RESTING_BUY)
    resting = await place(client, auth, **{**RESTING_BUY, "quantity": "5"})
    await submit_orders(runtime, [resting])
    account = await get_ok(client, auth, "/api/v1/account")

    response = await client.post(HALT, headers=auth)

    assert response.status_code == 200, response.text
    halted = api.check(response)
    assert (halted["account_id"], halted["broker"]) == (account["account_id"], "paper")
    assert halted["halted_at"] is not None
    assert [(c["order_id"], c["order"]["status"]) for c in halted["canceled"]] == [
        (waiting, "CANCELED"), (resting, "PENDING_CANCEL")]
    assert await cancel_order(runtime, resting)
    assert (await get_ok(client, auth, "/api/v1/account"))["buying_power"] == account["cash"]
    assert (await get_ok(client, auth, HALT))["halted_at"] == halted["halted_at"]


async def test_a_halted_account_refuses_new_orders_until_the_halt_is_lifted(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, api: OpenApi,
) -> None:
    bought = await place(client, auth, symbol="AAPL", side="BUY", order_type="MARKET",
                         quantity="2")
    await submit_orders(runtime, [bought])
    await client.post(HALT, headers=auth)

    refused = await client.post(ORDERS, json=RESTING_BUY, headers=auth)
    batch = await client.post(f"{ORDERS}/batch", headers=auth, json={
        "orders": [{**RESTING_BUY, "client_order_id": "while-halted"}]})
    close = await client.post("/api/v1/positions/AAPL/close", headers=auth)

    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "account_halted")
    assert [(i["http_status"], i["error"]["code"]) for i in batch.json()["items"]] == [
        (409, "account_halted")]
    assert [(i["http_status"], i["error"]["code"]) for i in close.json()["items"]] == [
        (409, "account_halted")]
    assert [o["id"] for o in (await get_ok(client, auth, ORDERS))["items"]] == [bought]

    lifted = await client.delete(HALT, headers=auth)

    assert (lifted.status_code, api.check(lifted)["halted_at"]) == (200, None)
    assert (await get_ok(client, auth, HALT))["halted_at"] is None
    assert (await client.post(ORDERS, json=RESTING_BUY, headers=auth)).status_code == 202


async def test_halting_again_keeps_the_time_the_halt_began(
    client: httpx.AsyncClient, auth: dict[str, str],
) -> None:
    first = (await client.post(HALT, headers=auth)).json()
    again = await client.post(HALT, headers=auth)

    assert again.status_code == 200
    assert (again.json()["halted_at"], again.json()["canceled"]) == (first["halted_at"], [])


async def test_halting_a_broker_connection_leaves_the_paper_account_trading(
    client: httpx.AsyncClient, auth: dict[str, str], account: uuid.UUID,
) -> None:
    at_groww = await place(client, auth, symbol="INFY", side="BUY", order_type="LIMIT",
                           quantity="1", price="1800", broker="groww")
    on_paper = await place(client, auth, **RESTING_BUY)

    response = await client.post(HALT, params={"account_id": str(account)}, headers=auth)

    assert response.status_code == 200, response.text
    halted = response.json()
    assert (halted["account_id"], halted["broker"]) == (str(account), "groww")
    assert [c["order_id"] for c in halted["canceled"]] == [at_groww]
    assert (await get_ok(client, auth, f"{ORDERS}/{on_paper}"))["status"] == "PENDING_NEW"
    assert (await get_ok(client, auth, HALT))["halted_at"] is None  # paper: not halted
    assert (await client.post(ORDERS, json=RESTING_BUY, headers=auth)).status_code == 202
    at_broker = await client.post(ORDERS, headers=auth, json={
        "symbol": "INFY", "side": "BUY", "order_type": "LIMIT", "quantity": "1",
        "price": "1800", "broker": "groww"})
    assert (at_broker.status_code, at_broker.json()["error"]["code"]) == (409, "account_halted")


async def test_halt_of_another_users_or_an_unknown_account_is_404_and_changes_nothing(
    client: httpx.AsyncClient, auth: dict[str, str],
) -> None:
    other = await register_and_login(client)
    theirs = await place(client, other, **RESTING_BUY)
    their_account = (await get_ok(client, other, "/api/v1/account"))["account_id"]

    for method in ("POST", "GET", "DELETE"):
        for account_id in (their_account, str(uuid.uuid4())):
            response = await client.request(method, HALT, params={"account_id": account_id},
                                            headers=auth)
            assert response.status_code == 404, (method, response.text)
            assert response.json()["error"]["details"]["field"] == "account_id"
    assert (await get_ok(client, other, f"{ORDERS}/{theirs}"))["status"] == "PENDING_NEW"
    assert (await get_ok(client, other, HALT))["halted_at"] is None
    assert (await client.post(HALT)).status_code == 401


async def test_an_order_that_passed_the_checks_as_the_halt_landed_is_not_inserted(
    client: httpx.AsyncClient, auth: dict[str, str], app: FastAPI,
) -> None:
    # The gate reads halted_at before the insert; a halt committed in between must still stop
    # the order: the reserving statement itself refuses a halted account.
    assert (await client.post(HALT, headers=auth)).status_code == 200
    request = OrderRequest("AAPL", Side.BUY, OrderType.LIMIT, Decimal(1), Decimal(100), None,
                           TimeInForce.DAY)
    new = orders.NewOrder(
        id=uuid.uuid4(), user_id=user_id_of(auth), broker="paper", account_id=None,
        product=None, broker_tag=None, request=request, client_order_id=None,
        idempotency_key=None, request_hash=None, reserve_cash=Decimal(100),
        dispatch_grace_seconds=5)
    async with app.state.engine.connect() as conn:
        assert await orders.insert_order(conn, new) is None
        await conn.commit()
    account = await get_ok(client, auth, "/api/v1/account")
    assert account["buying_power"] == account["cash"]  # nothing reserved
    assert (await get_ok(client, auth, "/api/v1/orders"))["items"] == []
