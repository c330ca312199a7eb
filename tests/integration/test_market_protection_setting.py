"""A broker connection's market protection: chosen at connect, kept across refreshes, and
what its MARKET orders carry at Kite (issue 14). Zerodha runs as the local Kite stub."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.brokers.catalog import Broker
from shared.brokers.types import PlaceRequest
from shared.credentials import CredentialBox
from shared.domain.enums import OrderType, Side, TimeInForce
from shared.settings import Settings
from tests.helpers import register_and_login
from tests.integration.kite_api import (  # noqa: F401 - the fixtures
    ZERODHA,
    api_fixture,
    kite_app_fixture,
    kite_fixture,
)
from tests.stubs.zerodha.harness import DEFAULT_API_KEY, DEFAULT_API_SECRET, StubKite
from worker.brokers.zerodha.adapter import ZerodhaAdapter

pytestmark = pytest.mark.integration



@pytest.fixture
async def user(api: httpx.AsyncClient) -> dict[str, str]:
    return await register_and_login(api)


async def _connect(api: httpx.AsyncClient, user: dict[str, str], kite: StubKite,
                   **extra: Any) -> httpx.Response:
    return await api.post(ZERODHA, headers=user, json={
        "api_key": DEFAULT_API_KEY, "api_secret": DEFAULT_API_SECRET,
        "request_token": kite.issue_request_token(), **extra})


async def _market_protection_sent(kite_app: FastAPI, kite: StubKite, account_id: str) -> object:
    """Place a MARKET order with the connection's stored session; what Kite received."""
    engine: AsyncEngine = kite_app.state.engine
    async with engine.connect() as conn:
        row = (await conn.execute(text("SELECT * FROM accounts WHERE id = :id"),
                                  {"id": uuid.UUID(account_id)})).mappings().one()
    session = CredentialBox.from_settings(Settings()).open(
        row["credentials"], user_id=row["user_id"], broker=Broker.ZERODHA, account_id=row["id"])
    adapter = ZerodhaAdapter(session, Settings(zerodha_root_url=kite.url))
    order_id = uuid.uuid4()
    try:
        placed = await adapter.place(PlaceRequest(
            order_id=str(order_id), tag="og" + order_id.hex[:18], instrument=kite.instrument,
            side=Side.BUY, order_type=OrderType.MARKET, quantity=Decimal(1),
            time_in_force=TimeInForce.DAY))
    finally:
        await adapter.aclose()
    return kite.exchange.history(placed.broker_order_id)[-1]["market_protection"]


async def test_a_connection_sends_automatic_market_protection_by_default(
        api: httpx.AsyncClient, user: dict[str, str], kite: StubKite, kite_app: FastAPI) -> None:
    response = await _connect(api, user, kite)
    assert response.status_code == 201, response.text
    assert await _market_protection_sent(kite_app, kite, response.json()["id"]) == -1


async def test_a_chosen_market_protection_is_sent_and_kept_across_a_refresh(
        api: httpx.AsyncClient, user: dict[str, str], kite: StubKite, kite_app: FastAPI) -> None:
    response = await _connect(api, user, kite, market_protection="2.5")
    assert response.status_code == 201, response.text
    account_id = response.json()["id"]
    assert await _market_protection_sent(kite_app, kite, account_id) == Decimal("2.5")

    refreshed = await api.post(f"{ZERODHA}/{account_id}/refresh", headers=user)
    assert refreshed.status_code == 200, refreshed.text
    assert await _market_protection_sent(kite_app, kite, account_id) == Decimal("2.5")

    changed = await api.post(f"{ZERODHA}/{account_id}/refresh", headers=user,
                             json={"market_protection": "-1"})
    assert changed.status_code == 200, changed.text
    assert await _market_protection_sent(kite_app, kite, account_id) == -1


@pytest.mark.parametrize("value", ["0", "100.5", "-2"])
async def test_a_market_protection_kite_would_refuse_is_422_naming_the_field(
        api: httpx.AsyncClient, user: dict[str, str], kite: StubKite, value: str) -> None:
    response = await _connect(api, user, kite, market_protection=value)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"]["field"] == "market_protection"
