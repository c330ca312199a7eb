"""Changing working orders end to end: the API over HTTP and a real Celery worker.

On paper a replace races the paper exchange's matching (the quote crosses while the replace is
on its way); at Kite the worker carries the modify to the stub, which shows the new terms.
"""

from __future__ import annotations

import asyncio
import os
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.e2e import test_broker_flow as kite_flow
from tests.e2e.conftest import exactly_once_report, wait_for
from tests.helpers import (
    new_instrument,
    quote_and_ring,
    register_and_login,
    set_quote,
    user_id_of,
)
from tests.stubs.zerodha.harness import StubKite

pytestmark = pytest.mark.e2e
# The Kite stub, the API served over HTTP (Kite posts back to it) and a worker pointed at the
# stub: the broker flow's fixtures, shared rather than written twice.
kite, api, client, worker, engine = (kite_flow.kite, kite_flow.api, kite_flow.client,
                                     kite_flow.worker, kite_flow.engine)
ROUNDS = 16
STAGGER_SECONDS = 0.005


async def _order(client: httpx.AsyncClient, auth: dict[str, str], order_id: str) -> Any:
    response = await client.get(f"/api/v1/orders/{order_id}", headers=auth)
    assert response.status_code == 200, response.text
    return response.json()


async def _until(client: httpx.AsyncClient, auth: dict[str, str], order_id: str,
                 wanted: str, timeout: float = 30) -> Any:
    async def reached() -> bool:
        return bool((await _order(client, auth, order_id))["status"] == wanted)

    await wait_for(reached, timeout, f"order {order_id} to be {wanted}")
    return await _order(client, auth, order_id)


async def _resting_buy(client: httpx.AsyncClient, auth: dict[str, str], symbol: str) -> str:
    response = await client.post("/api/v1/orders", headers=auth, json={
        "symbol": symbol, "side": "BUY", "order_type": "LIMIT", "quantity": "10",
        "price": "99.00", "time_in_force": "GTC"})
    assert response.status_code == 202, response.text
    order_id: str = response.json()["id"]
    await _until(client, auth, order_id, "ACCEPTED")
    return order_id


async def _replace_after(client: httpx.AsyncClient, auth: dict[str, str], order_id: str,
                         delay: float) -> httpx.Response:
    await asyncio.sleep(delay)
    return await client.patch(f"/api/v1/orders/{order_id}", headers=auth,
                              json={"quantity": "20"})


async def test_a_replace_racing_a_fill_is_done_first_or_refused_as_too_late_never_both_lost(
        client: httpx.AsyncClient, worker: None, engine: AsyncEngine) -> None:
    symbol = await new_instrument(engine, "100.00")  # 99.99 / 100.01: a BUY at 99 rests
    auth = await register_and_login(client)
    for attempt in range(ROUNDS):
        await set_quote(engine, symbol, "99.99", "100.01")
        order_id = await _resting_buy(client, auth, symbol)
        # The replace leaves a little later each round, so that both orders of events occur.
        replace, _seq = await asyncio.gather(
            _replace_after(client, auth, order_id, attempt % 8 * STAGGER_SECONDS),
            quote_and_ring(engine, os.environ["REDIS_URL"], symbol, "98.50", "98.99"))
        final = await _until(client, auth, order_id, "FILLED")
        if replace.status_code == 200:  # replaced first: the fill is on the new terms
            assert (final["quantity"], final["filled_quantity"]) == ("20", "20")
        else:  # the fill came first and stands; the replace was too late
            assert replace.status_code == 409, replace.text
            error = replace.json()["error"]
            assert (error["code"], error["details"]["status"]) == ("order_not_replaceable",
                                                                   "FILLED")
            assert (final["quantity"], final["filled_quantity"]) == ("10", "10")
        assert Decimal(final["avg_fill_price"]) <= Decimal("99")
    async with engine.connect() as conn:
        held, cash = (await conn.execute(text(
            "SELECT reserved_cash, cash FROM accounts WHERE user_id = :u AND broker = 'paper'"),
            {"u": user_id_of(auth)})).one()
        spent = (await conn.execute(text(
            "SELECT coalesce(sum(quantity * price + commission), 0) FROM fills WHERE symbol = :s"),
            {"s": symbol})).scalar_one()
        order_ids = [str(i) for i in (await conn.execute(text(
            "SELECT id FROM orders WHERE symbol = :s"), {"s": symbol})).scalars()]
    assert held == 0  # every order is filled: nothing is held any more
    assert cash == Decimal(100000) - spent
    report = await exactly_once_report(engine, order_ids)
    assert all(filled_events == 1 for _, filled_events in report.values())


async def test_a_modify_at_kite_reaches_the_stub_and_the_order_works_on_its_new_terms(
        kite: StubKite, client: httpx.AsyncClient, worker: None, engine: AsyncEngine) -> None:
    auth = await register_and_login(client)
    account_id = await kite_flow._connect_kite(client, auth, kite)  # noqa: SLF001
    response = await client.post("/api/v1/orders", headers=auth, json={
        **kite_flow.KITE_BUY, "account_id": account_id})
    assert response.status_code == 202, response.text
    order_id = response.json()["id"]
    accepted = await _until(client, auth, order_id, "ACCEPTED")

    replace = await client.patch(f"/api/v1/orders/{order_id}", headers=auth,
                                 json={"price": "1855.50", "quantity": "12"})
    assert replace.status_code == 202, replace.text
    assert (replace.json()["status"], replace.json()["price"]) == ("PENDING_REPLACE", "1860")

    async def replaced() -> bool:
        order = await _order(client, auth, order_id)
        return bool(order["status"] == "ACCEPTED" and order["price"] == "1855.5")

    await wait_for(replaced, 30, "the replace to be confirmed by Kite")
    at_kite = kite.exchange.history(accepted["broker_order_id"])
    assert "MODIFIED" in [row["status"] for row in at_kite]
    assert (at_kite[-1]["price"], at_kite[-1]["quantity"]) == (Decimal("1855.50"), 12)
    assert (await _order(client, auth, order_id))["quantity"] == "12"

    kite.fill(accepted["broker_order_id"], Decimal(12), Decimal("1855.50"))
    filled = await _until(client, auth, order_id, "FILLED")
    assert (filled["filled_quantity"], filled["avg_fill_price"]) == ("12", "1855.5")
    assert await exactly_once_report(engine, [order_id]) == {order_id: (1, 1)}
