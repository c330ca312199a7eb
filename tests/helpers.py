"""Small helpers shared by the integration and end-to-end tests."""

from __future__ import annotations

import uuid
from decimal import Decimal

import httpx
from jose import jwt
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.brokers.catalog import Broker
from shared.brokers.types import BrokerSession
from shared.credentials import CredentialBox
from shared.db.repositories import connections, market
from shared.settings import Settings

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
