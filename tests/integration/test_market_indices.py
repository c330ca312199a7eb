"""GET /api/v1/market/indices and `ordergate import-indices`: levels from constituents'
prices, the change from the previous close, and an all-or-nothing import."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.helpers import get_ok, new_instrument
from tests.integration.cli import json_of, one_line_failure, ordergate

pytestmark = pytest.mark.integration

HEADER = "index,name,exchange,currency,base_level,symbol,weight,base_price\n"


async def _tick(engine: AsyncEngine, symbol: str, at: datetime, ltp: str) -> None:
    async with engine.begin() as conn:
        await conn.execute(text(
            "INSERT INTO ticks (symbol, ts, ltp, ltq, buyprice, buyqty, sellprice, sellqty,"
            " openinterest) VALUES (:symbol, :ts, :ltp, 1, :ltp, 1, :ltp, 1, 0)"),
            {"symbol": symbol, "ts": at, "ltp": Decimal(ltp)})


async def _all(client: httpx.AsyncClient, auth: dict[str, str]) -> list[dict[str, Any]]:
    page = await get_ok(client, auth, "/api/v1/market/indices?limit=1")
    items: list[dict[str, Any]] = list(page["items"])
    while page["next_cursor"]:
        page = await get_ok(client, auth,
                            f"/api/v1/market/indices?limit=100&cursor={page['next_cursor']}")
        items += page["items"]
    return items


async def test_an_index_stands_at_its_constituents_prices_and_moves_from_the_previous_close(
    engine: AsyncEngine, client: httpx.AsyncClient, auth: dict[str, str], tmp_path: Path,
) -> None:
    heavy, light = await new_instrument(engine, "110.00"), await new_instrument(engine, "40.00")
    code = f"X{uuid.uuid4().hex[:8].upper()}"
    path = tmp_path / "indices.csv"
    path.write_text(HEADER + f"{code},Test 2,NASDAQ,USD,1000,{heavy},0.75,100\n"
                    f"{code},Test 2,NASDAQ,USD,1000,{light},0.25,40\n", encoding="utf-8")
    assert json_of(ordergate("import-indices", str(path), "--json")) == {
        "indices_changed": 1, "constituents_changed": 2}
    now = datetime.now(UTC)
    # Yesterday's last ticks close the day; today's tick is not a close, the quote is the price.
    await _tick(engine, heavy, now - timedelta(days=2), "90")
    await _tick(engine, heavy, now - timedelta(days=2) + timedelta(minutes=1), "100")
    await _tick(engine, light, now - timedelta(days=2), "44")
    await _tick(engine, light, now - timedelta(minutes=1), "39")

    mine = next(item for item in await _all(client, auth) if item["code"] == code)

    assert {key: mine[key] for key in ("name", "exchange", "currency", "base_level", "level",
                                       "previous_close", "change", "change_pct")} == {
        "name": "Test 2", "exchange": "NASDAQ", "currency": "USD", "base_level": "1000",
        "level": "1075", "previous_close": "1025", "change": "50", "change_pct": "4.88"}
    assert mine["constituents"] == [
        {"symbol": heavy, "weight": "0.75", "base_price": "100", "price": "110",
         "previous_close": "100"},
        {"symbol": light, "weight": "0.25", "base_price": "40", "price": "40",
         "previous_close": "44"}]


async def test_the_demo_indices_are_listed_by_code_with_their_constituents(
    client: httpx.AsyncClient, auth: dict[str, str],
) -> None:
    listed = {item["code"]: item for item in await _all(client, auth)}

    assert {"NIFTY50", "SENSEX", "SPX"} <= set(listed)
    codes = list(listed)
    assert codes == sorted(codes)
    spx = listed["SPX"]
    assert (spx["name"], spx["currency"], len(spx["constituents"])) == ("S&P 500", "USD", 10)
    assert spx["constituents"][0]["symbol"] == "AAPL"  # the heaviest first
    assert spx["level"] is not None
    assert {c["symbol"] for c in listed["NIFTY50"]["constituents"]} == {
        "RELIANCE", "TCS", "INFY", "HDFCBANK", "ICICIBANK", "SBIN", "ITC"}


async def test_an_import_with_bad_rows_names_each_line_and_changes_nothing(
    engine: AsyncEngine, client: httpx.AsyncClient, auth: dict[str, str], tmp_path: Path,
) -> None:
    symbol = await new_instrument(engine)
    code = f"X{uuid.uuid4().hex[:8].upper()}"
    path = tmp_path / "bad.csv"
    path.write_text(HEADER + f"{code},Bad,NASDAQ,USD,1000,{symbol},0.5,100\n"
                    f"{code},Bad,NASDAQ,USD,1000,NOSUCHSYM,0.5,100\n"
                    f"{code},Bad,NASDAQ,USD,1000,RELIANCE,0.5,100\n"
                    f"{code},Bad,NASDAQ,USD,1000,AAPL,-1,100\n"
                    f"{code},Other name,NASDAQ,USD,1000,MSFT,0.5,100\n"
                    f"{code},Bad,NASDAQ,USD,1000,{symbol},0.5,100\n"
                    f"{code},Bad,NASDAQ,USD,1000\n", encoding="utf-8")

    result = ordergate("import-indices", str(path))

    assert one_line_failure(result, 1) == "ordergate: 6 bad row(s) in bad.csv: nothing was imported"
    reasons = dict(line.split(": ", 1) for line in result.stdout.strip().splitlines())
    assert list(reasons) == [f"bad.csv line {n}" for n in range(3, 9)]
    for line, named in ((3, "unknown symbol NOSUCHSYM"), (4, "RELIANCE trades in INR"),
                        (5, "weight"), (6, "defined differently on line 2"),
                        (7, "duplicate of line 2"), (8, "expected 8 fields")):
        assert named in reasons[f"bad.csv line {line}"], (line, reasons)
    assert code not in {item["code"] for item in await _all(client, auth)}


async def test_an_import_again_changes_nothing_and_a_new_list_replaces_the_constituents(
    engine: AsyncEngine, client: httpx.AsyncClient, auth: dict[str, str], tmp_path: Path,
) -> None:
    first, second = await new_instrument(engine), await new_instrument(engine)
    code = f"X{uuid.uuid4().hex[:8].upper()}"
    path = tmp_path / "indices.csv"
    path.write_text(HEADER + f"{code},Two,NYSE,USD,100,{first},1,100\n"
                    f"{code},Two,NYSE,USD,100,{second},1,100\n", encoding="utf-8")
    ordergate("import-indices", str(path))

    again = ordergate("import-indices", str(path))
    path.write_text(HEADER + f"{code},One,NYSE,USD,100,{second},2,50\n", encoding="utf-8")
    replaced = json_of(ordergate("import-indices", str(path), "--json"))

    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == "0 index definition(s) and 0 constituent(s) changed"
    assert replaced == {"indices_changed": 1, "constituents_changed": 2}
    mine = next(item for item in await _all(client, auth) if item["code"] == code)
    assert mine["name"] == "One"
    assert mine["constituents"] == [{"symbol": second, "weight": "2", "base_price": "50",
                                     "price": "100", "previous_close": None}]
    assert (mine["level"], mine["previous_close"], mine["change"]) == ("200", None, None)


async def test_indices_refuse_a_cursor_no_page_handed_out(client: httpx.AsyncClient,
                                                          auth: dict[str, str]) -> None:
    response = await client.get("/api/v1/market/indices?cursor=e30=", headers=auth)

    assert response.status_code == 422
    assert response.json()["error"]["details"]["field"] == "cursor"
