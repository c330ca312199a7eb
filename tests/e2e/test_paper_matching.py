"""The paper exchange with a real Celery worker: orders rest, and new quotes (each ringing the
paper.match doorbell, as the simulator does) fill, trigger and trail them. Every test trades
an instrument of its own, quoted 99.99 / 100.01 to start with."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.e2e.conftest import ClientFactory, WorkerProcess, wait_for
from tests.helpers import new_instrument, place, quote_and_ring, register_and_login

pytestmark = pytest.mark.e2e
PATIENCE_S = 30


@pytest.fixture(scope="module")
def worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerProcess]:
    """One worker process (two pool processes, beat) for the module's tests."""
    process = WorkerProcess(os.environ["REDIS_URL"], tmp_path_factory.mktemp("matching"))
    process.start()
    yield process
    process.stop()


class Trader:
    """A user on a fresh instrument, placing orders and watching them through the API."""

    def __init__(self, client: httpx.AsyncClient, engine: AsyncEngine, auth: dict[str, str],
                 symbol: str) -> None:
        self.client, self.engine, self.auth, self.symbol = client, engine, auth, symbol

    async def place(self, **body: Any) -> str:
        return await place(self.client, self.auth, symbol=self.symbol, **body)

    async def order(self, order_id: str) -> Any:
        return (await self.client.get(f"/api/v1/orders/{order_id}", headers=self.auth)).json()

    async def fills(self, order_id: str) -> list[tuple[str, str]]:
        body = (await self.client.get(f"/api/v1/orders/{order_id}/fills",
                                      headers=self.auth)).json()
        return sorted((f["quantity"], f["price"]) for f in body["items"])

    async def quote(self, bid: str, ask: str, *, bid_size: str = "100000",
                    ask_size: str = "100000") -> None:
        await quote_and_ring(self.engine, os.environ["REDIS_URL"], self.symbol, bid, ask,
                             bid_size=bid_size, ask_size=ask_size)

    async def until(self, order_id: str, what: str, **wanted: str) -> Any:
        """Wait until the order shows every `wanted` field value; return it."""
        seen: dict[str, Any] = {}

        async def shows() -> bool:
            seen.update(await self.order(order_id))
            return all(seen.get(name) == value for name, value in wanted.items())

        await wait_for(shows, PATIENCE_S, f"{what} (last seen: {seen})")
        return seen


@pytest.fixture
async def trader(client_for: ClientFactory, worker: WorkerProcess) -> Trader:
    worker.restart_if_exited()
    client, engine = await client_for(os.environ["REDIS_URL"])
    symbol = await new_instrument(engine, "100.00")  # before the API's first instrument lookup
    return Trader(client, engine, await register_and_login(client), symbol)


async def test_a_resting_limit_fills_when_the_quote_crosses_it(trader: Trader) -> None:
    order_id = await trader.place(side="BUY", order_type="LIMIT", quantity="10",
                                  price="99.50", time_in_force="GTC")
    await trader.until(order_id, "the limit to rest", status="ACCEPTED")
    await trader.quote("99.48", "99.52")  # not yet
    await trader.quote("99.40", "99.45")
    order = await trader.until(order_id, "the limit to fill", status="FILLED")
    assert order["avg_fill_price"] == "99.45"
    assert await trader.fills(order_id) == [("10", "99.45")]


async def test_a_stop_triggers_then_fills(trader: Trader) -> None:
    order_id = await trader.place(side="BUY", order_type="STOP", quantity="10",
                                  stop_price="101.00", time_in_force="GTC")
    await trader.until(order_id, "the stop to rest", status="ACCEPTED")
    await trader.quote("100.99", "101.01", ask_size="0")  # hit, with nothing to buy
    await trader.until(order_id, "the stop to trigger", status="TRIGGERED")
    await trader.quote("101.02", "101.04")
    order = await trader.until(order_id, "the triggered stop to fill", status="FILLED")
    assert order["avg_fill_price"] == "101.04"


async def test_a_trailing_stop_follows_the_market_and_triggers(trader: Trader) -> None:
    bought = await trader.place(side="BUY", order_type="MARKET", quantity="10")
    await trader.until(bought, "the shares to be bought", status="FILLED")
    order_id = await trader.place(side="SELL", order_type="TRAILING_STOP", quantity="10",
                                  trail_price="1.00", time_in_force="GTC")
    await trader.until(order_id, "the water mark at submission", status="ACCEPTED",
                       hwm="99.99", stop_price="98.99")
    await trader.quote("102.00", "102.02")
    await trader.until(order_id, "the mark to follow the bid up", hwm="102", stop_price="101")
    await trader.quote("101.50", "101.52")
    await trader.quote("100.98", "101.00")  # below the stop at 101
    order = await trader.until(order_id, "the trailing stop to fill", status="FILLED")
    assert (order["hwm"], order["avg_fill_price"]) == ("102", "100.98")


async def test_a_big_order_fills_part_by_part_over_quotes_smaller_than_it(
        trader: Trader) -> None:
    await trader.quote("49.99", "50.01", ask_size="300")
    order_id = await trader.place(side="BUY", order_type="MARKET", quantity="1000")
    await trader.until(order_id, "the first part", status="PARTIALLY_FILLED",
                       filled_quantity="300")
    await trader.quote("49.99", "50.02", ask_size="200")
    await trader.until(order_id, "the second part", filled_quantity="500")
    await trader.quote("49.99", "50.03", ask_size="400")
    await trader.until(order_id, "the third part", filled_quantity="900")
    await trader.quote("49.99", "50.04", ask_size="5000")
    await trader.until(order_id, "the last part", status="FILLED", filled_quantity="1000")
    assert await trader.fills(order_id) == sorted([
        ("300", "50.01"), ("200", "50.02"), ("400", "50.03"), ("100", "50.04")])


async def test_ioc_fills_what_it_can_and_fok_fills_all_or_nothing(trader: Trader) -> None:
    await trader.quote("99.99", "100.01", ask_size="120")
    fok = await trader.place(side="BUY", order_type="LIMIT", quantity="300", price="100.50",
                             time_in_force="FOK")
    await trader.until(fok, "the FOK to be refused in full", status="CANCELED")
    ioc = await trader.place(side="BUY", order_type="LIMIT", quantity="300", price="100.50",
                             time_in_force="IOC")
    order = await trader.until(ioc, "the IOC to fill in part", status="CANCELED",
                               filled_quantity="120")
    assert order["reject_reason"] == "IOC order filled 120 of 300 at once; the rest is canceled"
    assert await trader.fills(fok) == []
    await trader.quote("99.99", "100.01", ask_size="100")
    whole = await trader.place(side="BUY", order_type="LIMIT", quantity="100", price="100.50",
                               time_in_force="FOK")
    await trader.until(whole, "a FOK the size covers", status="FILLED", filled_quantity="100")


async def test_a_brackets_exits_go_live_as_the_entry_fills_and_one_cancels_the_other(
        trader: Trader) -> None:
    entry = await trader.place(side="BUY", order_type="LIMIT", quantity="100", price="99.50",
                               time_in_force="GTC", order_class="bracket",
                               take_profit={"limit_price": "105.00"},
                               stop_loss={"stop_price": "95.00"})
    rested = await trader.until(entry, "the entry to rest", status="ACCEPTED")
    assert rested["legs"] == []  # no exit before anything is bought
    await trader.quote("99.40", "99.45", ask_size="40")
    opened = await trader.until(entry, "the entry's first fill", filled_quantity="40")
    assert sorted((leg["order_type"], leg["quantity"], leg["status"])
                  for leg in opened["legs"]) == [("LIMIT", "40", "ACCEPTED"),
                                                 ("STOP", "40", "ACCEPTED")]
    await trader.quote("99.40", "99.45")
    grown = await trader.until(entry, "the entry to fill", status="FILLED")
    legs = {leg["order_type"]: leg["id"] for leg in grown["legs"]}
    assert {leg["quantity"] for leg in grown["legs"]} == {"100"}  # the exits followed it
    await trader.quote("105.00", "105.02")
    take = await trader.until(legs["LIMIT"], "the take-profit to fill", status="FILLED")
    assert take["avg_fill_price"] == "105"
    stop = await trader.until(legs["STOP"], "the stop-loss to be canceled", status="CANCELED")
    assert stop["reject_reason"] == "its OCO sibling filled"
    positions = (await trader.client.get("/api/v1/positions", headers=trader.auth)).json()
    assert [p["quantity"] for p in positions if p["symbol"] == trader.symbol] in ([], ["0"])
