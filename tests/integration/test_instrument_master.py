"""The instrument master: importing Kite's dump and plain CSVs, search, quotes, validation."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from api.market.service import InstrumentCache
from scripts.import_instruments import import_file, report
from shared.market.instrument_files import FileFormatError

KITE_SLICE = Path(__file__).parents[1] / "fixtures" / "kite_instruments_slice.csv"
PLAIN_HEADER = "symbol,name,exchange,currency,tick_size,lot_size,isin\n"


async def _instrument(engine: AsyncEngine, symbol: str) -> dict[str, object] | None:
    async with engine.connect() as conn:
        row = (await conn.execute(
            text("SELECT symbol, name, exchange, segment, currency, tick_size, lot_size, isin,"
                 " broker_refs FROM instruments WHERE symbol = :s"), {"s": symbol})
        ).mappings().first()
    return dict(row) if row else None


def _plain_file(tmp_path: Path, *rows: str) -> Path:
    path = tmp_path / "us.csv"
    path.write_text(PLAIN_HEADER + "".join(f"{row}\n" for row in rows), encoding="utf-8")
    return path


async def test_a_kite_dump_imports_its_good_rows_and_reports_the_bad_by_line(
    engine: AsyncEngine,
) -> None:
    outcome = await import_file(engine, KITE_SLICE)

    assert [(bad.line, bad.reason) for bad in outcome.bad] == [
        (45, "tick_size is missing"),
        (46, "lot_size must be a plain positive number, was 'one'"),
        (47, "duplicate of line 4 (INFY)"),
        (48, "unreadable record (new-line character seen in unquoted field - do you need"
             " to open the file in universal-newline mode?); a stray carriage return?"),
        (49, "expected 12 fields, found 8"),
        (50, "tick_size must be a plain positive number, was '-0.05'"),
    ]
    assert outcome.not_tradable == 1  # the NIFTY 50 index
    assert outcome.inserted + outcome.updated + outcome.unchanged == 42
    future = await _instrument(engine, "NFO:NIFTY24DECFUT")
    assert future is not None
    assert (future["exchange"], future["segment"], future["lot_size"], str(future["tick_size"])
            ) == ("NFO", "NFO-FUT", 25, "0.05000000")
    assert future["broker_refs"] == {"zerodha": {"instrument_token": "13368322",
                                                 "exchange_token": "52220",
                                                 "tradingsymbol": "NIFTY24DECFUT"}}
    bse = await _instrument(engine, "BSE:RELIANCE")
    assert bse is not None
    assert bse["exchange"] == "BSE"
    for skipped in ("MRF", "JSWSTEEL", "UPL", "YESBANK", "NESTLEIND", "NIFTY 50", "NSE:NIFTY 50"):
        assert await _instrument(engine, skipped) is None
    assert "6 bad row(s) skipped" in report(outcome)


async def test_a_kite_import_keeps_the_seeded_symbols_and_their_angel_one_tokens(
    engine: AsyncEngine,
) -> None:
    await import_file(engine, KITE_SLICE)

    reliance = await _instrument(engine, "RELIANCE")
    assert reliance is not None
    assert reliance["exchange"] == "NSE"
    assert reliance["isin"] == "INE002A01018"
    refs = reliance["broker_refs"]
    assert isinstance(refs, dict)
    assert refs["zerodha"]["instrument_token"] == "738561"
    assert refs["angelone"]["tradingsymbol"] == "RELIANCE-EQ"


async def test_importing_the_same_file_again_changes_nothing(engine: AsyncEngine) -> None:
    await import_file(engine, KITE_SLICE)
    before = await _instrument(engine, "NFO:NIFTY24DEC24000CE")

    again = await import_file(engine, KITE_SLICE)

    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 42)
    assert await _instrument(engine, "NFO:NIFTY24DEC24000CE") == before


async def test_a_file_that_fails_midway_imports_nothing(engine: AsyncEngine,
                                                        tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:6].upper()
    good = [f"F{tag}{n},Failing {n},NASDAQ,USD,0.01,1," for n in range(30)]
    path = tmp_path / "broken.csv"
    path.write_bytes((PLAIN_HEADER + "".join(f"{row}\n" for row in good)).encode()
                     + b"BAD\xff,Not UTF-8,NASDAQ,USD,0.01,1,\n")

    # Batches of 5: six COPYs reach the staging table before line 32 stops the import.
    with pytest.raises(FileFormatError, match="line 32 is not UTF-8"):
        await import_file(engine, path, batch_size=5)

    async with engine.connect() as conn:
        found = (await conn.execute(text("SELECT count(*) FROM instruments WHERE symbol LIKE"
                                         " :p"), {"p": f"F{tag}%"})).scalar()
    assert found == 0


async def test_a_plain_csv_imports_us_names_with_their_isin(engine: AsyncEngine,
                                                            tmp_path: Path) -> None:
    symbol = f"U{uuid.uuid4().hex[:8].upper()}"
    path = _plain_file(tmp_path, f"{symbol},Example Corp,NYSE,USD,0.01,1,US0378331005",
                       f"{symbol}X,Bad Currency Corp,NYSE,US,0.01,1,")

    outcome = await import_file(engine, path)

    assert (outcome.inserted, [bad.line for bad in outcome.bad]) == (1, [3])
    assert outcome.bad[0].reason == "currency is not valid, was 'US'"
    row = await _instrument(engine, symbol)
    assert row is not None
    assert (row["name"], row["currency"], row["isin"]) == ("Example Corp", "USD", "US0378331005")


async def test_an_order_for_an_imported_symbol_keeps_its_lot_and_tick(
    app: FastAPI, engine: AsyncEngine, client: httpx.AsyncClient, auth: dict[str, str],
    tmp_path: Path,
) -> None:
    symbol = f"L{uuid.uuid4().hex[:8].upper()}"
    await import_file(engine, _plain_file(tmp_path, f"{symbol},Lots Inc,NASDAQ,USD,0.05,10,"))
    app.state.instruments = InstrumentCache(engine)
    order = {"symbol": symbol, "side": "BUY", "order_type": "LIMIT", "time_in_force": "DAY"}

    odd_lot = await client.post("/api/v1/orders", headers=auth,
                                json={**order, "quantity": "15", "price": "12.35"})
    off_tick = await client.post("/api/v1/orders", headers=auth,
                                 json={**order, "quantity": "20", "price": "12.33"})
    fits = await client.post("/api/v1/orders", headers=auth,
                             json={**order, "quantity": "20", "price": "12.35"})

    assert odd_lot.status_code == 422
    assert odd_lot.json()["error"]["details"]["field"] == "quantity"
    assert "multiple of the lot size 10" in odd_lot.json()["error"]["message"]
    assert off_tick.status_code == 422
    assert off_tick.json()["error"]["details"]["field"] == "price"
    assert fits.status_code == 202, fits.text
