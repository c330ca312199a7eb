"""`ordergate replay`: a recorded day of ticks, replayed as quotes into the paper exchange,
fills a resting order with a real Celery worker matching."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from scripts.import_ticks import import_file
from shared.domain.sessions import Calendar
from tests.e2e.conftest import ClientFactory, WorkerProcess, wait_for
from tests.helpers import get_ok, new_instrument, place, register_and_login
from tests.integration.cli import ordergate

pytestmark = pytest.mark.e2e
HEADER = "ltp,ltq,buyprice,buyqty,sellprice,sellqty,openinterest,timestamp\n"


@pytest.fixture(scope="module")
def worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerProcess]:
    process = WorkerProcess(os.environ["REDIS_URL"], tmp_path_factory.mktemp("replay"))
    process.start()
    yield process
    process.stop()


async def _trader(client_for: ClientFactory) -> tuple[httpx.AsyncClient, AsyncEngine,
                                                      dict[str, str], str]:
    client, engine = await client_for(os.environ["REDIS_URL"])
    symbol = await new_instrument(engine, "100.00")
    return client, engine, await register_and_login(client), symbol


async def test_a_replayed_day_fills_a_resting_limit_on_the_recorded_prices(
    client_for: ClientFactory, worker: WorkerProcess, tmp_path: Path,
) -> None:
    worker.restart_if_exited()
    client, engine, auth, symbol = await _trader(client_for)
    recorded = tmp_path / f"{symbol}.csv"
    # New York wall times on 2026-11-04; the last tick has no bid, so it moves no quote.
    recorded.write_text(HEADER + "100.10,5,100.05,500,100.20,500,0,2026-11-04 09:30:00\n"
                        "99.65,5,99.55,500,99.60,500,0,2026-11-04 09:30:01\n"
                        "99.45,5,99.35,500,99.40,500,0,2026-11-04 09:30:02\n"
                        "99.45,5,0,0,99.40,500,0,2026-11-04 09:30:03\n"
                        "98.00,5,97.95,500,98.05,500,0,2026-11-05 09:30:00\n")
    await import_file(engine, recorded, Calendar())
    order_id = await place(client, auth, symbol=symbol, side="BUY", order_type="LIMIT",
                           quantity="10", price="99.50", time_in_force="GTC")

    async def accepted() -> bool:
        order = await get_ok(client, auth, f"/api/v1/orders/{order_id}")
        return bool(order["status"] == "ACCEPTED")

    await wait_for(accepted, 30, "the limit to rest")

    result = ordergate("replay", symbol, "--date", "2026-11-04", "--speed", "100")

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (f"replayed 3 tick(s) of {symbol} on 2026-11-04 as quotes;"
                                     " 1 without both sides of the book moved none")

    async def filled() -> bool:
        order = await get_ok(client, auth, f"/api/v1/orders/{order_id}")
        return bool(order["status"] == "FILLED")

    await wait_for(filled, 30, "the limit to fill on the replayed quotes")
    fills = await get_ok(client, auth, f"/api/v1/orders/{order_id}/fills")
    assert [(f["quantity"], f["price"]) for f in fills["items"]] == [("10", "99.4")]
    quote = await get_ok(client, auth, f"/api/v1/market/quotes/{symbol}")
    assert (quote["bid"], quote["ask"], quote["last"]) == ("99.35", "99.4", "99.45")
