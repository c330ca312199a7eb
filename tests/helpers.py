"""Small helpers shared by the integration and end-to-end tests."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import httpx
from jose import jwt
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.brokers.catalog import Broker
from shared.brokers.types import BrokerSession
from shared.credentials import CredentialBox
from shared.db.repositories import connections, market
from shared.settings import Settings
from worker.brokers.paper.doorbell import ring

PASSWORD = "correct horse battery"


async def register_and_login(client: httpx.AsyncClient) -> dict[str, str]:
    """Create a fresh user and return its Authorization header."""
    email = f"trader-{uuid.uuid4().hex[:12]}@example.com"
    response = await client.post("/api/v1/auth/register",
                                 json={"email": email, "password": PASSWORD})
    assert response.status_code == 201, response.text
    response = await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def set_quote(engine: AsyncEngine, symbol: str, bid: str, ask: str, *,
                    bid_size: str = "100000", ask_size: str = "100000") -> int:
    """Set a symbol's next quote exactly, as the market simulator would; returns its seq."""
    low, high = Decimal(bid), Decimal(ask)
    async with engine.begin() as conn:
        seq = await market.set_quote(conn, symbol, low, high, (low + high) / 2,
                                     bid_size=Decimal(bid_size), ask_size=Decimal(ask_size))
    assert seq is not None, f"no quote row for {symbol}"
    return seq


async def new_instrument(engine: AsyncEngine, price: str = "100.00", *, tick: str = "0.01",
                         lot: str = "1", exchange: str = "NASDAQ", currency: str = "USD",
                         size: str = "100000") -> str:
    """A fresh instrument of the caller's own, quoted one tick either side of `price`: no
    other test's order rests on its book. Returns its symbol (an API process finds it once
    its instrument cache is new or reloads)."""
    symbol = f"T{uuid.uuid4().hex[:11].upper()}"
    mid, step = Decimal(price), Decimal(tick)
    async with engine.begin() as conn:
        await conn.execute(
            text("INSERT INTO instruments (symbol, name, exchange, currency, tick_size, lot_size)"
                 " VALUES (:symbol, :name, :exchange, :currency, :tick, :lot)"),
            {"symbol": symbol, "name": f"Test instrument {symbol}", "exchange": exchange,
             "currency": currency, "tick": step, "lot": Decimal(lot)})
        await conn.execute(
            text("INSERT INTO quotes (symbol, bid, ask, last, bid_size, ask_size)"
                 " VALUES (:symbol, :bid, :ask, :last, :size, :size)"),
            {"symbol": symbol, "bid": mid - step, "ask": mid + step, "last": mid,
             "size": Decimal(size)})
    return symbol


async def quote_and_ring(engine: AsyncEngine, redis_url: str, symbol: str, bid: str, ask: str,
                         *, bid_size: str = "100000", ask_size: str = "100000") -> int:
    """Set a symbol's next quote, then ring the paper exchange's doorbell for it (as the
    simulator does after each tick); returns the quote's seq."""
    seq = await set_quote(engine, symbol, bid, ask, bid_size=bid_size, ask_size=ask_size)
    redis = Redis.from_url(redis_url)
    try:
        await ring(redis, [symbol])
    finally:
        await redis.aclose()
    return seq


async def place(client: httpx.AsyncClient, auth: dict[str, str], **body: Any) -> str:
    """POST an order that must be accepted (202); returns its id."""
    response = await client.post("/api/v1/orders", json=body, headers=auth)
    assert response.status_code == 202, response.text
    order_id: str = response.json()["id"]
    return order_id


async def get_ok(client: httpx.AsyncClient, auth: dict[str, str], path: str) -> Any:
    """GET a resource that must be there (200); returns its body."""
    response = await client.get(path, headers=auth)
    assert response.status_code == 200, response.text
    return response.json()


def user_id_of(auth: dict[str, str]) -> uuid.UUID:
    """The user id inside an Authorization header's access token."""
    token = auth["Authorization"].removeprefix("Bearer ")
    return uuid.UUID(jwt.get_unverified_claims(token)["sub"])


async def connect_broker(engine: AsyncEngine, auth: dict[str, str], broker: Broker,
                         session: BrokerSession, settings: Settings) -> uuid.UUID:
    """Store a logged-in broker connection for the user, as POST .../connections would."""
    user_id = user_id_of(auth)
    async with engine.begin() as conn:
        row = await connections.upsert(conn, user_id=user_id, broker=broker,
                                       broker_user_id=session.broker_user_id or None, label=None)
        sealed = CredentialBox.from_settings(settings).seal(
            session, user_id=user_id, broker=broker, account_id=row["id"])
        await connections.save_credentials(conn, row["id"], credentials=sealed, status="active",
                                           token_expires_at=None, last_error=None)
    account_id: uuid.UUID = row["id"]
    return account_id
