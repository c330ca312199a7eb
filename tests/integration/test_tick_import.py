"""Importing recorded ticks: a ZIP of CSVs in the apps' shape, bad rows, unknown symbols,
re-imports, failures that import nothing, and `ordergate import-ticks`."""

from __future__ import annotations

import json
import zipfile
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from scripts.import_ticks import import_file, report
from shared.domain.sessions import Calendar
from shared.market.instrument_files import FileFormatError
from tests.helpers import new_instrument
from tests.integration.cli import ordergate

TICKS_ZIP = Path(__file__).parents[1] / "fixtures" / "ticks" / "ticks.zip"
HEADER = "ltp,ltq,buyprice,buyqty,sellprice,sellqty,openinterest,timestamp\n"


async def _ticks(engine: AsyncEngine, symbol: str) -> list[tuple[datetime, Decimal, int]]:
    async with engine.connect() as conn:
        rows = await conn.execute(text("SELECT ts, ltp, ltq FROM ticks WHERE symbol = :s"
                                       " ORDER BY ts, ltp"), {"s": symbol})
        return [(row.ts, row.ltp, row.ltq) for row in rows]


async def _range(engine: AsyncEngine, symbol: str) -> tuple[datetime, datetime, int] | None:
    async with engine.connect() as conn:
        row = (await conn.execute(text("SELECT first_ts, last_ts, tick_count FROM tick_ranges"
                                       " WHERE symbol = :s"), {"s": symbol})).first()
    return (row.first_ts, row.last_ts, row.tick_count) if row else None


def _at(text_: str) -> datetime:
    return datetime.fromisoformat(text_).astimezone(UTC)


async def test_a_ticks_zip_imports_its_good_rows_and_names_each_bad_one_by_file_and_line(
    engine: AsyncEngine,
) -> None:
    outcome = await import_file(engine, TICKS_ZIP, Calendar())

    assert [(bad.source, bad.line, bad.reason) for bad in outcome.bad] == [
        ("RELIANCE.csv", 6, "ltp must be a plain number with at most 8 decimals, was ''"),
        ("RELIANCE.csv", 7, "ltq must be a whole number from 0 to 1000000000000000, was 'ten'"),
        ("RELIANCE.csv", 8, "timestamp must read like 2024-01-05 09:15:00 (an offset such as"
                            " +05:30 optional), was '02/11/2026 09:15:04'"),
        ("RELIANCE.csv", 9, "expected 8 fields, found 7"),
        ("day2/INFY.csv", 4, "ltp must be a plain number with at most 8 decimals, was"
                             " '-1860.05'"),
        ("mixed.csv", 6, "symbol is missing"),
        ("mixed.csv", 7, "openinterest must be a whole number from 0 to 1000000000000000,"
                         " was '1.5'"),
    ]
    assert dict(outcome.unknown) == {"NOSUCHSYM": 2}
    assert (outcome.files, outcome.inserted, outcome.duplicates) == (3, 10, 1)
    # Wall times without an offset are NSE's (Asia/Kolkata, UTC+05:30); two different ticks
    # of one instant are both kept, a repeated one once.
    assert await _ticks(engine, "RELIANCE") == [
        (_at("2026-11-02T03:45:00+00:00"), Decimal("2950.05"), 10),
        (_at("2026-11-02T03:45:01+00:00"), Decimal("2949.90"), 25),
        (_at("2026-11-02T03:45:01+00:00"), Decimal("2950.10"), 5),
        (_at("2026-11-02T03:46:10+00:00"), Decimal("2951.50"), 15),
        (_at("2026-11-02T09:59:59+00:00"), Decimal("2952.00"), 20),
    ]
    assert [tick[0] for tick in await _ticks(engine, "INFY")] == [
        _at("2026-11-03T03:45:00+00:00"), _at("2026-11-03T03:45:00.25+00:00"),
        _at("2026-11-03T04:30:00+00:00")]
    assert await _ticks(engine, "TCS") == [
        (_at("2026-11-02T03:45:00+00:00"), Decimal("4210.00"), 2),
        (_at("2026-11-02T03:46:00+00:00"), Decimal("4211.50"), 4)]
    assert await _range(engine, "RELIANCE") == (_at("2026-11-02T03:45:00+00:00"),
                                                _at("2026-11-02T09:59:59+00:00"), 5)
    assert "unknown symbol NOSUCHSYM: 2 tick(s) skipped" in report(outcome)
    assert "RELIANCE.csv line 9: expected 8 fields, found 7" in report(outcome)


async def test_importing_the_same_ticks_again_adds_nothing_and_keeps_the_ranges(
    engine: AsyncEngine,
) -> None:
    await import_file(engine, TICKS_ZIP, Calendar())
    before = await _range(engine, "RELIANCE"), len(await _ticks(engine, "RELIANCE"))

    again = await import_file(engine, TICKS_ZIP, Calendar())

    assert (again.inserted, again.duplicates) == (0, 11)
    assert (await _range(engine, "RELIANCE"), len(await _ticks(engine, "RELIANCE"))) == before


async def test_new_ticks_of_a_symbol_widen_its_range_and_count(
    engine: AsyncEngine, tmp_path: Path,
) -> None:
    symbol = await new_instrument(engine)
    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    first.write_text(HEADER + "10.00,1,9.99,1,10.01,1,0,2026-11-04 10:00:00\n")
    second.write_text(HEADER + "10.50,2,10.49,1,10.51,1,0,2026-11-04 09:30:00\n"
                      "10.00,1,9.99,1,10.01,1,0,2026-11-04 10:00:00\n"
                      "11.00,3,10.99,1,11.01,1,0,2026-11-04 15:59:59\n")

    await import_file(engine, first, Calendar(), symbol=symbol)
    outcome = await import_file(engine, second, Calendar(), symbol=symbol)

    assert (outcome.inserted, outcome.duplicates) == (2, 1)
    # A NASDAQ symbol's wall times are New York's (UTC-05:00 in November).
    assert await _range(engine, symbol) == (_at("2026-11-04T14:30:00+00:00"),
                                            _at("2026-11-04T20:59:59+00:00"), 3)


async def test_an_undecodable_file_in_a_zip_stops_the_import_with_nothing_imported(
    engine: AsyncEngine, tmp_path: Path,
) -> None:
    symbol = await new_instrument(engine)
    archive = tmp_path / "broken.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr(f"{symbol}.csv", HEADER + "10.00,1,9.99,1,10.01,1,0,2026-11-04 10:00:00\n")
        zipped.writestr(f"z/{symbol}.csv", HEADER.encode() + b"10.00,1,9.99,1,10.01,1,0,\xff\n")

    with pytest.raises(FileFormatError, match=f"z/{symbol}.csv: line 2 is not UTF-8"):
        await import_file(engine, archive, Calendar())

    assert await _ticks(engine, symbol) == []
    assert await _range(engine, symbol) is None


async def test_a_file_of_another_shape_is_refused_naming_the_expected_columns(
    engine: AsyncEngine, tmp_path: Path,
) -> None:
    path = tmp_path / "AAPL.csv"
    path.write_text("price,qty,time\n1,2,3\n")

    with pytest.raises(FileFormatError, match="AAPL.csv: unknown header 'price,qty,time'"):
        await import_file(engine, path, Calendar())


async def test_ordergate_import_ticks_takes_the_symbol_option_and_reports_in_json(
    engine: AsyncEngine, tmp_path: Path,
) -> None:
    symbol = await new_instrument(engine)
    path = tmp_path / "recorded-day.csv"
    path.write_text(HEADER + "10.00,1,9.99,1,10.01,1,0,2026-11-04T15:00:00Z\n"
                    "10.00,x,9.99,1,10.01,1,0,2026-11-04T15:00:01Z\n")

    result = ordergate("import-ticks", str(path), "--symbol", symbol.lower(), "--json")
    unnamed = ordergate("import-ticks", str(path))

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "files": 1, "inserted": 1, "duplicates": 0,
        "bad": [{"file": "recorded-day.csv", "line": 3,
                 "reason": "ltq must be a whole number from 0 to 1000000000000000, was 'x'"}],
        "unknown_symbols": {}}
    assert await _range(engine, symbol) == (_at("2026-11-04T15:00:00+00:00"),
                                            _at("2026-11-04T15:00:00+00:00"), 1)
    # Without --symbol the file's name is its symbol, which the master does not know.
    assert unnamed.returncode == 0, unnamed.stderr
    assert "unknown symbol RECORDED-DAY: 1 tick(s) skipped" in unnamed.stdout


async def test_ordergate_replay_of_an_unknown_symbol_or_an_empty_day_exits_1(
    engine: AsyncEngine,
) -> None:
    symbol = await new_instrument(engine)

    unknown = ordergate("replay", "NOSUCHSYM", "--date", "2026-11-04")
    empty = ordergate("replay", symbol, "--date", "2026-11-04", "--speed", "60")

    assert unknown.returncode == 1, unknown.stderr
    assert unknown.stderr.strip() == "ordergate: unknown symbol NOSUCHSYM"
    assert empty.returncode == 1, empty.stderr
    assert empty.stderr.strip() == f"ordergate: {symbol} has no recorded ticks on 2026-11-04"
