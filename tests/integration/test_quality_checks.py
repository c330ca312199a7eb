"""A difference between a broker and our books reaches the account's owner, once."""

from __future__ import annotations

import uuid

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.settings import Settings
from worker.handlers import broker_calls as calls
from worker.runtime import Runtime

pytestmark = pytest.mark.integration
RESTING = {"symbol": "JPM", "side": "BUY", "order_type": "LIMIT", "quantity": "1",
           "price": "1.00"}


async def test_a_discrepancy_is_listed_for_its_owner_once(
        client: httpx.AsyncClient, engine: AsyncEngine, auth: dict[str, str],
        app: FastAPI) -> None:
    placed = await client.post("/api/v1/orders", json=RESTING, headers=auth)
    runtime = Runtime(Settings(), engine=app.state.engine, redis=app.state.redis)
    order = await calls.read_order(runtime, uuid.UUID(placed.json()["id"]))
    assert order is not None
    for _ in range(2):  # the reconciler and a webhook notice the same thing
        await calls.record_discrepancy(runtime, order, "status_mismatch",
                                       "the order is FILLED here but CANCELED at the broker")
    listed = (await client.get("/api/v1/quality-checks", headers=auth)).json()
    assert [(c["kind"], c["order_id"], c["message"]) for c in listed] == [
        ("status_mismatch", str(order.id),
         "the order is FILLED here but CANCELED at the broker")]
