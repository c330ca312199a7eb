"""An owner with one object of every kind, for the OWASP API Top 10 tests to attack."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.helpers import get_ok, place, register_and_login, set_quote


@dataclass(frozen=True)
class Owned:
    """A user and the id of one object of each kind it owns."""

    auth: dict[str, str]
    ids: dict[str, str]  # parameter name (order_id, key_id, …) → the owner's object's id
    api_key: str  # the key, as its 201 answer showed it once

    async def snapshot(self, client: httpx.AsyncClient) -> dict[str, Any]:
        """Everything the owner can read of its objects: a foreign call must change none."""
        paths = {
            "order": f"/api/v1/orders/{self.ids['order_id']}",
            "events": f"/api/v1/orders/{self.ids['order_id']}/events",
            "key": f"/api/v1/api-keys/{self.ids['key_id']}",
            "watchlist": f"/api/v1/watchlists/{self.ids['watchlist_id']}",
            "items": f"/api/v1/watchlists/{self.ids['watchlist_id']}/items",
            "trade": f"/api/v1/trades/{self.ids['trade_id']}",
            "portfolio": f"/api/v1/portfolios/{self.ids['portfolio_id']}",
            "connection": f"/api/v1/brokers/groww/connections/{self.ids['connection_id']}",
            "account": f"/api/v1/account?account_id={self.ids['account_id']}",
            "settings": f"/api/v1/account/settings?account_id={self.ids['account_id']}",
            "halt": f"/api/v1/account/halt?account_id={self.ids['account_id']}",
            "me": "/api/v1/me",
        }
        return {name: await get_ok(client, self.auth, path) for name, path in paths.items()}


@pytest.fixture
async def owner(client: httpx.AsyncClient, engine: AsyncEngine,
                account: uuid.UUID, auth: dict[str, str]) -> Owned:
    """The `auth` user with a resting order, an API key, a watchlist, a journaled trade, a
    portfolio the trade names, a Groww connection and its paper account."""
    await set_quote(engine, "AAPL", "199.99", "200.01")
    order = await place(client, auth, symbol="AAPL", side="BUY", order_type="LIMIT",
                        quantity="1", price="100.00", time_in_force="GTC")
    key = await client.post("/api/v1/api-keys", json={"name": "bot", "scopes": ["trade"]},
                            headers=auth)
    watchlist = await client.post("/api/v1/watchlists", json={"name": "tech"}, headers=auth)
    await client.post(f"/api/v1/watchlists/{watchlist.json()['id']}/items",
                      json={"symbol": "AAPL"}, headers=auth)
    portfolio = await client.post("/api/v1/portfolios", json={"name": "core"}, headers=auth)
    trade = await client.post("/api/v1/trades", headers=auth, json={
        "symbol": "AAPL", "side": "BUY", "quantity": "10", "price": "100",
        "executed_at": "2026-03-02T10:00:00+00:00", "portfolio_id": portfolio.json()["id"]})
    assert key.status_code == watchlist.status_code == trade.status_code == 201, trade.text
    assert portfolio.status_code == 201, portfolio.text
    paper = await get_ok(client, auth, "/api/v1/account")
    return Owned(auth, {"order_id": order, "key_id": key.json()["id"],
                        "watchlist_id": watchlist.json()["id"], "trade_id": trade.json()["id"],
                        "portfolio_id": portfolio.json()["id"],
                        "connection_id": str(account), "account_id": paper["account_id"]},
                 key.json()["key"])


@pytest.fixture
async def intruder(client: httpx.AsyncClient) -> dict[str, str]:
    """Another user, logged in."""
    return await register_and_login(client)
