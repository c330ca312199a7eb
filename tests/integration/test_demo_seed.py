"""`ordergate seed` (what `make run` runs) on a first start: a seeded database answers the
market and dashboard screens with data, and seeding again changes nothing. The database is
the module's own (the seed's day of RELIANCE ticks would be counted by the tick import's
tests, and the first start has no data of other tests)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from api.main import create_app
from scripts import run
from shared.settings import Settings
from tests.helpers import get_ok
from tests.integration.cli import ordergate
from tests.integration.fresh_database import fresh_database

pytestmark = pytest.mark.integration


async def _login(client: httpx.AsyncClient, email: str, password: str) -> dict[str, str]:
    response = await client.post("/api/v1/auth/login",
                                 json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def _counts(engine: AsyncEngine) -> tuple[int, ...]:
    async with engine.connect() as conn:
        return tuple([(await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one()
                      for table in ("ticks", "trades", "watchlist_items", "news_articles",
                                    "orders")])


@pytest.fixture(scope="module")
def seeded() -> Iterator[dict[str, str]]:
    """A new database, seeded once for the module."""
    with fresh_database() as url:
        result = ordergate("seed", env={"DATABASE_URL": url})
        assert result.returncode == 0, result.stderr
        yield {"DATABASE_URL": url, "stdout": result.stdout}


@pytest.fixture
async def app(seeded: dict[str, str]) -> AsyncIterator[FastAPI]:
    """The API over the seeded database."""
    application = create_app(Settings(database_url=seeded["DATABASE_URL"]))
    async with application.router.lifespan_context(application):
        yield application


async def test_both_demo_traders_see_holdings_watchlists_and_history(
    client: httpx.AsyncClient, seeded: dict[str, str],
) -> None:
    first = await _login(client, "demo@ordergate.dev", "demo-password-123")
    second = await _login(client, "demo2@ordergate.dev", "demo-password-456")

    for auth, held in ((first, {"AAPL", "MSFT"}), (second, {"NVDA", "TSLA", "KO"})):
        dashboard = await get_ok(client, auth, "/api/v1/dashboard")
        exposure = {row["symbol"] for account in dashboard["accounts"]
                    for row in account["exposure"]}
        assert exposure == held, dashboard
        assert (await get_ok(client, auth, "/api/v1/trades"))["items"]
    lists = (await get_ok(client, first, "/api/v1/watchlists"))["items"]
    assert sorted(item["name"] for item in lists) == ["Big tech", "India"]
    india = next(item for item in lists if item["name"] == "India")
    listed = (await get_ok(client, first, f"/api/v1/watchlists/{india['id']}/items"))["items"]
    assert [item["symbol"] for item in listed] == ["RELIANCE", "TCS", "INFY", "HDFCBANK"]
    assert all(item["quote"] is not None for item in listed)
    orders = (await get_ok(client, first, "/api/v1/orders"))["items"]
    assert sorted(order["symbol"] for order in orders) == ["AAPL", "MSFT", "NVDA"]


async def test_the_market_screens_have_a_day_of_ticks_indices_trending_and_news(
    client: httpx.AsyncClient, seeded: dict[str, str],
) -> None:
    auth = await _login(client, "demo@ordergate.dev", "demo-password-123")

    tickers = (await get_ok(client, auth, "/api/v1/market/tickers?q=KO"))["items"]
    ko = next(item for item in tickers if item["symbol"] == "KO")
    first_at = datetime.fromisoformat(ko["first_tick_at"])
    last_at = datetime.fromisoformat(ko["last_tick_at"])
    bars = (await get_ok(client, auth, "/api/v1/market/ohlc?" + str(httpx.QueryParams({
        "symbol": "KO", "interval": "1h", "start": first_at.isoformat(),
        "end": (last_at + timedelta(seconds=1)).isoformat()}))))["bars"]
    gainers = (await get_ok(client, auth, "/api/v1/market/trending?kind=gainers"))["items"]
    losers = (await get_ok(client, auth, "/api/v1/market/trending?kind=losers"))["items"]
    active = (await get_ok(client, auth, "/api/v1/market/trending?kind=active"))["items"]
    indices = {item["code"]: item for item in
               (await get_ok(client, auth, "/api/v1/market/indices"))["items"]}
    news = (await get_ok(client, auth, "/api/v1/market/news?symbol=AAPL"))["items"]

    assert ko["tick_count"] == 4681  # 6.5 hours at a tick every 5 seconds, both ends
    assert last_at - first_at == timedelta(hours=6, minutes=30)  # New York's session
    assert len(bars) == 7
    assert gainers or losers
    assert active
    spx: dict[str, Any] = indices["SPX"]
    assert spx["level"] is not None
    assert spx["previous_close"] == "5600"  # each name closed at its reference price
    assert "Apple and Microsoft lead a quiet session" in {item["title"] for item in news}


async def test_seeding_again_changes_nothing(engine: AsyncEngine,
                                             seeded: dict[str, str]) -> None:
    before = await _counts(engine)

    again = ordergate("seed", env={"DATABASE_URL": seeded["DATABASE_URL"]})

    assert (again.returncode, again.stdout) == (0, seeded["stdout"])
    assert await _counts(engine) == before


def test_make_run_seeds_a_checkout_that_has_never_run(seeded: dict[str, str], tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # `make run` migrates and seeds before it serves, and the served processes' metrics
    # directory does not exist yet on a fresh checkout.
    monkeypatch.setattr(run, "RUN_DIR", tmp_path / "run")
    env = run._child_env({"DATABASE_URL": seeded["DATABASE_URL"],  # noqa: SLF001
                          "REDIS_URL": os.environ["REDIS_URL"]})

    printed = run._prepare(env, seed=True)  # noqa: SLF001

    assert printed == seeded["stdout"]
