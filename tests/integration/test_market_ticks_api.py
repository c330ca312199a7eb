"""GET /api/v1/market/tickers, /market/tickers/{symbol}/ticks and /market/ohlc over imported
ticks, and the plans of their queries."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from scripts.import_ticks import import_file
from shared.db.repositories import ticks
from shared.domain.sessions import Calendar
from tests.helpers import get_ok

HEADER = "ltp,ltq,buyprice,buyqty,sellprice,sellqty,openinterest,timestamp\n"


async def _instrument(engine: AsyncEngine, symbol: str, name: str) -> str:
    async with engine.begin() as conn:
        await conn.execute(text(
            "INSERT INTO instruments (symbol, name, exchange, currency, tick_size, lot_size)"
            " VALUES (:symbol, :name, 'NASDAQ', 'USD', 0.01, 1)"), {"symbol": symbol, "name": name})
    return symbol


async def _with_ticks(engine: AsyncEngine, tmp_path: Path, symbol: str, *rows: str) -> None:
    path = tmp_path / f"{symbol}.csv"
    path.write_text(HEADER + "".join(f"{row}\n" for row in rows))
    outcome = await import_file(engine, path, Calendar())
    assert (outcome.bad, outcome.inserted) == ([], len(rows))


def _tag() -> str:
    return f"K{uuid.uuid4().hex[:6].upper()}"


async def _pages(client: httpx.AsyncClient, auth: dict[str, str], path: str) -> list[Any]:
    """Every item of a paged list, following next_cursor."""
    items: list[Any] = []
    page = await get_ok(client, auth, path)
    while True:
        items += page["items"]
        if page["next_cursor"] is None:
            return items
        page = await get_ok(client, auth, f"{path}&cursor={page['next_cursor']}")


async def test_tickers_list_each_symbol_with_its_dates_count_and_latest_tick_by_pages(
    engine: AsyncEngine, client: httpx.AsyncClient, auth: dict[str, str], tmp_path: Path,
) -> None:
    tag = _tag()
    for letter in "CAB":
        await _instrument(engine, f"{tag}{letter}", f"{letter} Corp")
        await _with_ticks(engine, tmp_path, f"{tag}{letter}",
                          "10.00,5,9.99,100,10.01,200,0,2026-11-04T14:30:00Z",
                          "10.25,7,10.24,110,10.26,210,0,2026-11-05T20:59:59Z")
    await _instrument(engine, f"{tag}D", "No ticks Inc")

    first = await get_ok(client, auth, f"/api/v1/market/tickers?q={tag.lower()}&limit=2")
    listed = await _pages(client, auth, f"/api/v1/market/tickers?q={tag}&limit=2")

    assert [item["symbol"] for item in first["items"]] == [f"{tag}A", f"{tag}B"]
    assert first["next_cursor"] is not None
    assert [item["symbol"] for item in listed] == [f"{tag}A", f"{tag}B", f"{tag}C"]
    assert listed[0] == {
        "symbol": f"{tag}A", "name": "A Corp", "exchange": "NASDAQ", "currency": "USD",
        "first_tick_at": "2026-11-04T14:30:00+00:00", "last_tick_at": "2026-11-05T20:59:59+00:00",
        "tick_count": 2,
        "latest": {"ts": "2026-11-05T20:59:59+00:00", "ltp": "10.25", "ltq": 7,
                   "buyprice": "10.24", "buyqty": 110, "sellprice": "10.26", "sellqty": 210,
                   "openinterest": 0}}


async def test_tickers_filter_by_name_and_by_the_days_their_ticks_cover(
    engine: AsyncEngine, client: httpx.AsyncClient, auth: dict[str, str], tmp_path: Path,
) -> None:
    tag = _tag()
    await _instrument(engine, f"{tag}OLD", f"{tag} Old Holdings")
    await _with_ticks(engine, tmp_path, f"{tag}OLD", "5.00,1,4.99,1,5.01,1,0,2026-10-01T15:00:00Z")
    await _instrument(engine, f"{tag}NEW", f"{tag} New Holdings")
    await _with_ticks(engine, tmp_path, f"{tag}NEW", "6.00,1,5.99,1,6.01,1,0,2026-11-10T15:00:00Z")

    def listed(query: str) -> str:
        return f"/api/v1/market/tickers?q={quote(tag + ' ')}&{query}"

    november = await get_ok(client, auth, listed("start_date=2026-11-01&end_date=2026-11-30"))
    up_to_oct = await get_ok(client, auth, listed("end_date=2026-10-01"))
    from_oct_2 = await get_ok(client, auth, listed("start_date=2026-10-02"))
    reversed_ = await client.get(listed("start_date=2026-11-02&end_date=2026-11-01"),
                                 headers=auth)

    assert [item["symbol"] for item in november["items"]] == [f"{tag}NEW"]
    assert [item["symbol"] for item in up_to_oct["items"]] == [f"{tag}OLD"]
    assert [item["symbol"] for item in from_oct_2["items"]] == [f"{tag}NEW"]
    assert reversed_.status_code == 422
    assert reversed_.json()["error"]["details"]["field"] == "end_date"


async def test_ticks_page_through_ticks_of_one_instant_without_a_gap_or_a_repeat(
    engine: AsyncEngine, client: httpx.AsyncClient, auth: dict[str, str], tmp_path: Path,
) -> None:
    symbol = await _instrument(engine, _tag(), "Paged Inc")
    rows = [f"{10 + i % 3}.{i:02d},{i + 1},9.00,1,11.00,1,0,2026-11-04T15:00:0{i // 4}Z"
            for i in range(15)]
    await _with_ticks(engine, tmp_path, symbol, *rows)

    paged = await _pages(client, auth, f"/api/v1/market/tickers/{symbol}/ticks?limit=4")
    window = await get_ok(client, auth, f"/api/v1/market/tickers/{symbol}/ticks?limit=100"
                          "&start=2026-11-04T15:00:01Z&end=2026-11-04T15:00:03Z")

    assert len(paged) == 15
    assert len({json.dumps(tick, sort_keys=True) for tick in paged}) == 15
    assert sorted(tick["ltq"] for tick in paged) == list(range(1, 16))
    keys = [(tick["ts"], float(tick["ltp"])) for tick in paged]
    assert keys == sorted(keys)
    assert {tick["ts"] for tick in window["items"]} == {"2026-11-04T15:00:01+00:00",
                                                        "2026-11-04T15:00:02+00:00"}
    assert len(window["items"]) == 8


async def test_an_unknown_symbol_is_404_and_a_forged_cursor_422(
    client: httpx.AsyncClient, auth: dict[str, str],
) -> None:
    ticks_of = await client.get("/api/v1/market/tickers/NOSUCH1/ticks", headers=auth)
    bars_of = await client.get("/api/v1/market/ohlc?symbol=NOSUCH1&interval=1m"
                               "&start=2026-11-04T00:00:00Z&end=2026-11-05T00:00:00Z",
                               headers=auth)
    forged = await client.get("/api/v1/market/tickers/AAPL/ticks?cursor=bm90LWEtY3Vyc29y",
                              headers=auth)
    forged_ticker = await client.get("/api/v1/market/tickers?cursor=%25%25", headers=auth)

    for response in (ticks_of, bars_of):
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
        assert response.json()["error"]["details"] == {"field": "symbol"}
    for response in (forged, forged_ticker):
        assert response.status_code == 422
        assert response.json()["error"]["code"] == "invalid_cursor"


async def test_ohlc_bars_open_and_close_on_the_first_and_last_tick_by_time(
    engine: AsyncEngine, client: httpx.AsyncClient, auth: dict[str, str], tmp_path: Path,
) -> None:
    symbol = await _instrument(engine, _tag(), "Bars Inc")
    # Out of time order in the file: the bars follow the ticks' times, not the lines.
    await _with_ticks(engine, tmp_path, symbol,
                      "101.50,3,101.49,1,101.51,1,0,2026-11-04T14:30:59Z",
                      "100.00,1,99.99,1,100.01,1,0,2026-11-04T14:30:00Z",
                      "99.00,2,98.99,1,99.01,1,0,2026-11-04T14:30:30Z",
                      "102.00,4,101.99,1,102.01,1,0,2026-11-04T14:32:10Z",
                      "103.25,5,103.24,1,103.26,1,0,2026-11-04T15:45:00Z")
    day = "&start=2026-11-04T00:00:00Z&end=2026-11-05T00:00:00Z"

    minutes = await get_ok(client, auth, f"/api/v1/market/ohlc?symbol={symbol.lower()}"
                                         f"&interval=1m{day}")
    hours = await get_ok(client, auth, f"/api/v1/market/ohlc?symbol={symbol}&interval=1h{day}")

    assert minutes == {"symbol": symbol, "interval": "1m", "bars": [
        {"ts": "2026-11-04T14:30:00+00:00", "open": "100", "high": "101.5", "low": "99",
         "close": "101.5", "volume": "6", "ticks": 3},
        {"ts": "2026-11-04T14:32:00+00:00", "open": "102", "high": "102", "low": "102",
         "close": "102", "volume": "4", "ticks": 1},
        {"ts": "2026-11-04T15:45:00+00:00", "open": "103.25", "high": "103.25",
         "low": "103.25", "close": "103.25", "volume": "5", "ticks": 1}]}
    # Hourly bars start at New York's 09:30 open (14:30 UTC in November), as brokers draw them.
    assert [(bar["ts"], bar["open"], bar["close"], bar["ticks"]) for bar in hours["bars"]] == [
        ("2026-11-04T14:30:00+00:00", "100", "102", 4),
        ("2026-11-04T15:30:00+00:00", "103.25", "103.25", 1)]


async def test_ohlc_refuses_an_unknown_interval_a_reversed_or_too_long_range(
    client: httpx.AsyncClient, auth: dict[str, str],
) -> None:
    base = "/api/v1/market/ohlc?symbol=AAPL"
    cases = {
        "&interval=2m&start=2026-11-04T00:00:00Z&end=2026-11-05T00:00:00Z":
            ("interval", "invalid_request"),
        "&interval=1m&start=2026-11-05T00:00:00Z&end=2026-11-04T00:00:00Z":
            ("end", "invalid_market_query"),
        "&interval=1m&start=2026-11-01T00:00:00Z&end=2026-11-09T00:00:00Z":
            ("end", "range_too_long"),
        "&interval=1d&start=2025-01-01T00:00:00Z&end=2026-11-09T00:00:00Z":
            ("end", "range_too_long"),
        "&interval=1m&start=2026-11-04T00:00:00&end=2026-11-05T00:00:00Z":
            ("start", "invalid_request"),
        "&interval=1m&end=2026-11-05T00:00:00Z": ("start", "invalid_request"),
    }
    for query, (field, code) in cases.items():
        response = await client.get(base + query, headers=auth)

        assert response.status_code == 422, query
        error = response.json()["error"]
        assert (error["details"]["field"], error["code"]) == (field, code), query


async def test_the_openapi_document_names_the_intervals(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()

    parameters = document["paths"]["/api/v1/market/ohlc"]["get"]["parameters"]
    interval = next(p for p in parameters if p["name"] == "interval")
    schema = interval["schema"]
    schema = document["components"]["schemas"][schema["$ref"].split("/")[-1]] \
        if "$ref" in schema else schema
    assert schema["enum"] == ["1m", "5m", "15m", "1h", "1d"]


def _scans(plan: dict[str, Any]) -> list[tuple[str, str | None]]:
    """Each node of a plan that reads a table or an index, with the index it reads."""
    reads = "Relation Name" in plan or "Index Name" in plan
    found = [(plan["Node Type"], plan.get("Index Name"))] if reads else []
    for child in plan.get("Plans", []):
        found += _scans(child)
    return found


async def test_the_ticks_and_ohlc_queries_read_the_index_not_every_tick(
    engine: AsyncEngine,
) -> None:
    tag = _tag()
    async with engine.begin() as conn:
        await conn.execute(text(
            "INSERT INTO instruments (symbol, name, exchange, currency, tick_size, lot_size)"
            " SELECT :tag || n, 'Plan ' || n, 'NASDAQ', 'USD', 0.01, 1"
            " FROM generate_series(0, 19) n"), {"tag": tag})
        await conn.execute(text(
            "INSERT INTO ticks SELECT :tag || (g % 20), timestamptz '2026-06-01T13:30:00Z'"
            " + (g / 20) * interval '1 second', 10 + g % 7, 1, 9, 1, 11, 1, 0"
            " FROM generate_series(0, 59999) g"), {"tag": tag})
        await conn.execute(text("ANALYZE ticks"))
        await conn.execute(text("ANALYZE tick_bars_1m"))
    start = datetime.fromisoformat("2026-06-01T14:00:00+00:00")
    end = start + timedelta(hours=1)
    minute = timedelta(minutes=1)
    queries = {
        "ticks": (ticks.ticks_query(after=False),
                  ticks.ticks_params(f"{tag}7", start, end, 500, None)),
        "next page": (ticks.ticks_query(after=True), ticks.ticks_params(
            f"{tag}7", start, end, 500, (start, 10, 1, 9, 1, 11, 1, 0))),
        # Whole minutes from the rollup's key, the part-minutes at the ends from the ticks':
        # as they are (1m bars), and merged into longer bars (5m).
        "ohlc": ticks.ohlc_statement(f"{tag}7", minute, start, start + timedelta(seconds=30),
                                     end + timedelta(seconds=30)),
        "ohlc of 5m": ticks.ohlc_statement(f"{tag}7", 5 * minute, start,
                                           start + timedelta(seconds=30),
                                           end + timedelta(seconds=30)),
        # Bins that cut minutes: every tick, by the ticks' index.
        "ohlc of 90s": ticks.ohlc_statement(f"{tag}7", timedelta(seconds=90), start, start,
                                            end),
    }
    indexes = {"ticks": {"uq_ticks_tick"}, "next page": {"uq_ticks_tick"},
               "ohlc": {"uq_ticks_tick", "pk_tick_bars_1m"},
               "ohlc of 5m": {"uq_ticks_tick", "pk_tick_bars_1m"},
               "ohlc of 90s": {"uq_ticks_tick"}}
    assert queries["ohlc"][0] == ticks.OHLC_MINUTES_QUERY
    assert queries["ohlc of 5m"][0] == ticks.OHLC_ROLLUP_QUERY
    assert queries["ohlc of 90s"][0] == ticks.OHLC_QUERY
    async with engine.connect() as conn:
        for name, (sql, params) in queries.items():
            plan = (await conn.execute(text(f"EXPLAIN (FORMAT JSON) {sql}"), params)).scalar_one()

            scans = _scans(plan[0]["Plan"])
            assert {index for _, index in scans} - {None} == indexes[name], (name, scans)
            assert all(node != "Seq Scan" for node, _ in scans), (name, scans)
