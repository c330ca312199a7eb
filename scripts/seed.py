"""Demo data for `make run`: a demo trader with two portfolios and a few orders in them,
created through the real API.

Idempotent: a second run finds the demo user and changes nothing.
"""

from __future__ import annotations

import asyncio
import os

import httpx

from api.main import create_app
from shared.settings import get_settings

DEMO_EMAIL = os.environ.get("DEMO_EMAIL", "demo@ordergate.dev")
DEMO_PASSWORD = os.environ.get("DEMO_PASSWORD", "demo-password-123")
DEMO_PORTFOLIOS = {"Long term": "core holdings, bought to keep",
                   "Swing": "positions held for days or weeks"}
# Each order names the portfolio it rolls up under.
DEMO_ORDERS = [
    ("Long term", {"symbol": "AAPL", "side": "BUY", "order_type": "MARKET", "quantity": "10"}),
    ("Long term", {"symbol": "MSFT", "side": "BUY", "order_type": "MARKET", "quantity": "5"}),
    ("Swing", {"symbol": "NVDA", "side": "BUY", "order_type": "LIMIT", "quantity": "20",
               "price": "100.00", "time_in_force": "GTC"}),
]


async def seed() -> str:
    """Create the demo user and its orders unless they exist; return what to tell the user."""
    app = create_app(get_settings())
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://seed") as client:
            created = await client.post("/api/v1/auth/register", json={
                "email": DEMO_EMAIL, "password": DEMO_PASSWORD, "username": "demo"})
            if created.status_code not in (201, 409):
                raise SystemExit(f"could not create the demo user: {created.text}")
            if created.status_code == 201:
                await _place_demo_orders(client)
    return f"login {DEMO_EMAIL} / {DEMO_PASSWORD}"


async def _place_demo_orders(client: httpx.AsyncClient) -> None:
    login = await client.post("/api/v1/auth/login",
                              json={"email": DEMO_EMAIL, "password": DEMO_PASSWORD})
    login.raise_for_status()
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    portfolios = {}
    for name, description in DEMO_PORTFOLIOS.items():
        created = await client.post("/api/v1/portfolios", headers=headers,
                                    json={"name": name, "description": description})
        created.raise_for_status()
        portfolios[name] = created.json()["id"]
    for number, (portfolio, order) in enumerate(DEMO_ORDERS):
        response = await client.post("/api/v1/orders",
                                     json={**order, "portfolio_id": portfolios[portfolio]},
                                     headers={**headers, "Idempotency-Key": f"demo-{number}"})
        response.raise_for_status()


if __name__ == "__main__":
    print(asyncio.run(seed()))
