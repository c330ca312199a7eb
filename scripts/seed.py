"""Demo data for `make run`, so every screen shows something on first start: two demo traders
with watchlists, the first with two portfolios and orders in them, each with a history of
journaled trades (all created through the real API), a
day of ticks for the demo universe (scripts.demo_ticks, bulk-COPYed as `ordergate
import-ticks` does) and a few news articles.

Idempotent: a demo user that exists already is left as it is, a symbol with ticks gets none,
an article already stored is skipped, so a second run changes nothing.
"""

from __future__ import annotations

import asyncio
import os
import re
import runpy
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from api.main import create_app
from scripts.demo_ticks import day_of_ticks, last_session
from shared.clock import calendar_from
from shared.db.repositories import news, ticks
from shared.market.news_files import NewsRow
from shared.market.tick_files import TickRow
from shared.settings import Settings, get_settings

UNIVERSE_MIGRATION = (Path(__file__).resolve().parent.parent / "migrations" / "versions"
                      / "0002_instrument_universe.py")


@dataclass(frozen=True)
class DemoUser:
    """A demo trader and what it starts with."""

    email: str
    password: str
    watchlists: dict[str, list[str]]
    portfolios: dict[str, str] = field(default_factory=dict)  # name: description
    # Each order, and each journaled trade, names the portfolio it rolls up under.
    orders: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    # (portfolio, symbol, side, quantity, price, days ago): trades done elsewhere
    trades: list[tuple[str | None, str, str, str, str, int]] = field(default_factory=list)

    @property
    def username(self) -> str:
        """The e-mail's local part (demo, demo2): a fixed name would be taken by the first
        demo user seeded, and refuse another DEMO_EMAIL's sign-up."""
        return re.sub(r"[^A-Za-z0-9_.-]", "-", self.email.split("@", 1)[0])[:64].ljust(3, "_")


DEMO_USERS = [
    DemoUser(
        email=os.environ.get("DEMO_EMAIL", "demo@ordergate.dev"),
        password=os.environ.get("DEMO_PASSWORD", "demo-password-123"),
        watchlists={"Big tech": ["AAPL", "MSFT", "GOOGL", "AMZN", "NVDA", "META"],
                    "India": ["RELIANCE", "TCS", "INFY", "HDFCBANK"]},
        portfolios={"Long term": "core holdings, bought to keep",
                    "Swing": "positions held for days or weeks"},
        orders=[
            ("Long term", {"symbol": "AAPL", "side": "BUY", "order_type": "MARKET",
                           "quantity": "10"}),
            ("Long term", {"symbol": "MSFT", "side": "BUY", "order_type": "MARKET",
                           "quantity": "5"}),
            ("Swing", {"symbol": "NVDA", "side": "BUY", "order_type": "LIMIT", "quantity": "20",
                       "price": "100.00", "time_in_force": "GTC"})],
        trades=[("Long term", "MSFT", "BUY", "15", "410.00", 6),
                ("Long term", "AAPL", "BUY", "20", "221.30", 4),
                ("Swing", "AAPL", "SELL", "5", "226.10", 1)]),
    DemoUser(
        email=os.environ.get("DEMO2_EMAIL", "demo2@ordergate.dev"),
        password=os.environ.get("DEMO2_PASSWORD", "demo-password-456"),
        watchlists={"Watching": ["TSLA", "NVDA", "KO", "JPM", "V", "SPY"]},
        trades=[(None, "NVDA", "BUY", "8", "115.50", 9), (None, "TSLA", "BUY", "12", "235.20", 7),
                (None, "KO", "BUY", "30", "68.90", 5), (None, "TSLA", "SELL", "4", "242.00", 2)]),
]
DEMO_NEWS = [
    ("demo-news-1", "Apple and Microsoft lead a quiet session", ("AAPL", "MSFT"), 3),
    ("demo-news-2", "Reliance and TCS lift the NIFTY 50", ("RELIANCE", "TCS"), 10),
    ("demo-news-3", "NVIDIA supplies stretch into next year", ("NVDA",), 26),
]


async def seed() -> str:
    """Seed the demo users, ticks and news unless they exist; return what to tell the user."""
    settings = get_settings()
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://seed") as client:
            for user in DEMO_USERS:
                await _seed_user(client, user)
        engine: AsyncEngine = app.state.engine
        await seed_ticks(engine, settings, datetime.now(UTC))
        await _seed_news(engine, datetime.now(UTC))
    return "\n".join(f"login {user.email} / {user.password}" for user in DEMO_USERS)


async def _seed_user(client: httpx.AsyncClient, user: DemoUser) -> None:
    created = await client.post("/api/v1/auth/register", json={
        "email": user.email, "password": user.password, "username": user.username})
    if created.status_code == 409:
        return
    if created.status_code != 201:
        raise SystemExit(f"could not create the demo user {user.email}: {created.text}")
    login = await client.post("/api/v1/auth/login",
                              json={"email": user.email, "password": user.password})
    login.raise_for_status()
    auth = {"Authorization": f"Bearer {login.json()['access_token']}"}
    for name, symbols in user.watchlists.items():
        listed = await _ok(client.post("/api/v1/watchlists", json={"name": name}, headers=auth))
        for symbol in symbols:
            await _ok(client.post(f"/api/v1/watchlists/{listed['id']}/items",
                                  json={"symbol": symbol}, headers=auth))
    portfolios: dict[str | None, str | None] = {None: None}
    for name, description in user.portfolios.items():
        created = await _ok(client.post("/api/v1/portfolios", headers=auth,
                                        json={"name": name, "description": description}))
        portfolios[name] = created["id"]
    now = datetime.now(UTC).replace(microsecond=0)
    for portfolio, symbol, side, quantity, price, days_ago in user.trades:
        await _ok(client.post("/api/v1/trades", headers=auth, json={
            "symbol": symbol, "side": side, "quantity": quantity, "price": price,
            "executed_at": (now - timedelta(days=days_ago)).isoformat(),
            "notes": "demo history", "portfolio_id": portfolios[portfolio]}))
    for number, (portfolio, order) in enumerate(user.orders):
        await _ok(client.post("/api/v1/orders", json={
            **order, "portfolio_id": portfolios[portfolio]}, headers={
            **auth, "Idempotency-Key": f"{user.username}-{number}"}))


async def _ok(request: Any) -> Any:
    response: httpx.Response = await request
    response.raise_for_status()
    return response.json()


def reference_prices() -> dict[str, tuple[str, Decimal, Decimal]]:
    """The demo universe as migration 0002 seeds it: exchange, tick size, reference price."""
    universe = runpy.run_path(str(UNIVERSE_MIGRATION))["UNIVERSE"]
    return {symbol: (exchange, Decimal(tick), Decimal(price))
            for symbol, _, exchange, _, tick, price in universe}


async def seed_ticks(engine: AsyncEngine, settings: Settings, now: datetime) -> int:
    """COPY the last session's ticks of every demo symbol without ticks; return how many."""
    calendar = calendar_from(settings)
    async with engine.begin() as conn:
        have = set((await conn.execute(text("SELECT symbol FROM tick_ranges"))).scalars())
        rows: list[TickRow] = []
        for symbol, (exchange, tick, price) in sorted(reference_prices().items()):
            session = last_session(calendar, exchange, now)
            if symbol not in have and session is not None:
                rows.extend(day_of_ticks(symbol, price, tick, session))
        if not rows:
            return 0
        await ticks.create_staging(conn)
        await ticks.copy_to_staging(conn, rows)
        _, added = await ticks.insert_from_staging(conn)
    return added


async def _seed_news(engine: AsyncEngine, now: datetime) -> None:
    async with engine.begin() as conn:
        await news.insert(conn, [
            NewsRow(where="demo", guid=guid, title=title, summary="Demo article.", url=None,
                    source="ordergate demo", published_at=now - timedelta(hours=hours_ago),
                    symbols=symbols)
            for guid, title, symbols, hours_ago in DEMO_NEWS], "feed")


if __name__ == "__main__":
    print(asyncio.run(seed()))
