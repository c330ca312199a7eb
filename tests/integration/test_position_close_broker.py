"""Closing a position at a broker with margin products (the Groww stub): the close trades the
product that holds the position, so an intraday position is never sold as delivery."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.integration.replacing import GROWW_BUY, place
from tests.stubs.groww.harness import GrowwStub
from worker.handlers.broker_orders import place_orders, sync_order
from worker.runtime import Runtime

pytestmark = pytest.mark.integration
CLOSE = "/api/v1/positions/INFY/close"


async def bought(client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime,
                 groww: GrowwStub, quantity: int, product: str) -> None:
    """Buy `quantity` INFY at Groww as `product`, filled there and booked here."""
    order_id = await place(client, auth, {**GROWW_BUY, "quantity": str(quantity),
                                          "product": product})
    assert await place_orders(runtime, [order_id]) == 1
    await sync_order(runtime, uuid.UUID(order_id))
    order = (await client.get(f"/api/v1/orders/{order_id}", headers=auth)).json()
    groww.fill(order["broker_order_id"], Decimal(quantity), Decimal("1860"))
    await sync_order(runtime, uuid.UUID(order_id))


async def close(client: httpx.AsyncClient, auth: dict[str, str], account: uuid.UUID,
                **body: str) -> dict[str, Any]:
    response = await client.post(CLOSE, json={"account_id": str(account), **body},
                                 headers=auth)
    assert response.status_code == 207, response.text
    (item,) = response.json()["items"]
    return dict(item)


async def test_an_intraday_position_is_closed_as_intraday(
        client: httpx.AsyncClient, auth: dict[str, str], account: uuid.UUID,
        runtime: Runtime, groww: GrowwStub) -> None:
    await bought(client, auth, runtime, groww, 10, "MIS")
    item = await close(client, auth, account)
    assert item["http_status"] == 202, item
    order = item["order"]
    assert (order["side"], order["quantity"], order["product"]) == ("SELL", "10", "MIS")


async def test_a_delivery_position_is_closed_as_delivery(
        client: httpx.AsyncClient, auth: dict[str, str], account: uuid.UUID,
        runtime: Runtime, groww: GrowwStub) -> None:
    await bought(client, auth, runtime, groww, 10, "CNC")
    order = (await close(client, auth, account))["order"]
    assert (order["side"], order["quantity"], order["product"]) == ("SELL", "10", "CNC")


async def test_a_position_held_both_ways_closes_the_named_part_only(
        client: httpx.AsyncClient, auth: dict[str, str], account: uuid.UUID,
        runtime: Runtime, groww: GrowwStub) -> None:
    await bought(client, auth, runtime, groww, 6, "CNC")
    await bought(client, auth, runtime, groww, 4, "MIS")
    unnamed = await close(client, auth, account)
    assert (unnamed["http_status"], unnamed["order"]) == (422, None)
    assert unnamed["error"]["code"] == "product_required"
    assert unnamed["error"]["details"] == {"field": "product", "MIS": "4", "delivery": "6"}
    intraday = (await close(client, auth, account, product="MIS"))["order"]
    assert (intraday["quantity"], intraday["product"]) == ("4", "MIS")
