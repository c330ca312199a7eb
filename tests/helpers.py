"""Small helpers shared by the integration and end-to-end tests."""

from __future__ import annotations

import uuid
from decimal import Decimal

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db.repositories import market

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


async def set_quote(engine: AsyncEngine, symbol: str, bid: str, ask: str) -> None:
    """Set a symbol's quote exactly, as the market simulator would."""
    low, high = Decimal(bid), Decimal(ask)
    async with engine.begin() as conn:
        await market.set_quote(conn, symbol, low, high, (low + high) / 2)
