"""Import recorded ticks: a CSV, or a ZIP of CSVs, of `ltp, ltq, buyprice, buyqty, sellprice,
sellqty, openinterest, timestamp`.

    ordergate import-ticks FILE [--symbol S]

A file's symbol is its `symbol` column when it has one, else `--symbol`, else the file's name
(`RELIANCE.csv`, or `day1/INFY.csv` inside a ZIP). A timestamp without an offset is a wall time
at the symbol's exchange (NSE in Asia/Kolkata, NYSE in America/New_York; UTC for an exchange
without session hours). Good ticks are bulk-COPYed into a staging table as the files are read,
then inserted in the same transaction, those already recorded skipped: re-importing a file
adds nothing, and an error that stops the import leaves the ticks as they were. Bad rows
(file and line) and ticks of symbols not in the instrument master are reported and skipped.
"""

from __future__ import annotations

import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import BinaryIO
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from scripts.import_instruments import utf8_lines
from shared.db.repositories import ticks
from shared.domain.sessions import Calendar
from shared.market.instrument_files import FileFormatError, RowError
from shared.market.tick_files import BadTick, TickRow, check_symbol, read, symbol_of

BATCH_SIZE = 10_000
# Millions of ticks in one insert outlast the API's statement timeout.
STATEMENT_TIMEOUT_SECONDS = 1800.0
_UTC = ZoneInfo("UTC")


@dataclass
class Outcome:
    """What an import did: ticks added, duplicates (recorded before, or repeated in the
    files) left out, rows skipped and why."""

    files: int = 0
    inserted: int = 0
    duplicates: int = 0
    bad: list[BadTick] = field(default_factory=list)
    unknown: Counter[str] = field(default_factory=Counter)


def csv_members(path: Path) -> list[zipfile.ZipInfo] | None:
    """The CSV files inside a ZIP at `path`, in name order; None if it is not a ZIP."""
    if not zipfile.is_zipfile(path):
        return None
    with zipfile.ZipFile(path) as archive:
        return sorted((info for info in archive.infolist() if not info.is_dir()
                       and info.filename.lower().endswith(".csv")
                       and not info.filename.startswith("__MACOSX/")),
                      key=lambda info: info.filename)


def size_of(path: Path) -> int:
    """The bytes an import of `path` reads (a ZIP's CSVs uncompressed), for a progress bar."""
    members = csv_members(path)
    return path.stat().st_size if members is None else sum(m.file_size for m in members)


@contextmanager
def _sources(path: Path) -> Iterator[Iterator[tuple[str, BinaryIO]]]:
    members = csv_members(path)
    if members is None:
        with path.open("rb") as file:
            yield iter([(path.name, file)])
        return
    if not members:
        raise FileFormatError(f"{path.name} holds no .csv file")
    with zipfile.ZipFile(path) as archive:
        def opened() -> Iterator[tuple[str, BinaryIO]]:
            for member in members:
                with archive.open(member) as file:
                    yield member.filename, file  # type: ignore[misc]
        yield opened()


class _Stager:
    """Stages a file's good ticks in batches, their naive timestamps set in their exchange's
    zone; the ticks of symbols the master lacks are counted and left out."""

    def __init__(self, conn: AsyncConnection, calendar: Calendar, outcome: Outcome,
                 batch_size: int) -> None:
        self._conn, self._calendar, self._outcome = conn, calendar, outcome
        self._batch_size = batch_size
        self._zones: dict[str, ZoneInfo | None] = {}
        self._batch: list[TickRow] = []

    async def add(self, row: TickRow) -> None:
        self._batch.append(row)
        if len(self._batch) >= self._batch_size:
            await self.flush()

    async def flush(self) -> None:
        new = sorted({row.symbol for row in self._batch} - self._zones.keys())
        if new:
            exchanges = await ticks.exchanges_of(self._conn, new)
            self._zones.update({symbol: self._zone(exchanges.get(symbol)) for symbol in new})
        known = []
        for row in self._batch:
            zone = self._zones[row.symbol]
            if zone is None:
                self._outcome.unknown[row.symbol] += 1
            else:
                known.append(row if row.ts.tzinfo else replace(row, ts=row.ts.replace(tzinfo=zone)))
        if known:
            await ticks.copy_to_staging(self._conn, known)
        self._batch = []

    def _zone(self, exchange: str | None) -> ZoneInfo | None:
        if exchange is None:
            return None
        known = self._calendar.knows(exchange)
        return ZoneInfo(self._calendar.hours[exchange.upper()].zone) if known else _UTC


async def import_file(engine: AsyncEngine, path: Path, calendar: Calendar, *,
                      symbol: str | None = None,
                      on_bytes: Callable[[int], None] = lambda _: None,
                      batch_size: int = BATCH_SIZE) -> Outcome:
    """Import the ticks of `path` (a CSV or a ZIP of CSVs) in one transaction."""
    if symbol is not None:
        try:
            symbol = check_symbol(symbol.upper())
        except RowError as error:
            raise FileFormatError(str(error)) from None
    outcome = Outcome()
    async with engine.begin() as conn:
        await ticks.create_staging(conn)
        stager = _Stager(conn, calendar, outcome, batch_size)
        with _sources(path) as sources:
            for name, file in sources:
                outcome.files += 1
                try:
                    for parsed in read(utf8_lines(file, on_bytes), name,
                                       symbol or symbol_of(name)):
                        if isinstance(parsed, BadTick):
                            outcome.bad.append(parsed)
                        else:
                            await stager.add(parsed)
                except FileFormatError as error:
                    raise FileFormatError(f"{name}: {error}") from None
        await stager.flush()
        staged, outcome.inserted = await ticks.insert_from_staging(conn)
    outcome.duplicates = staged - outcome.inserted
    return outcome


def report(outcome: Outcome) -> str:
    """The outcome in words, one bad row or unknown symbol a line."""
    lines = [f"{bad.source} line {bad.line}: {bad.reason}" for bad in outcome.bad]
    lines += [f"unknown symbol {symbol}: {count} tick(s) skipped (not in the instrument master)"
              for symbol, count in sorted(outcome.unknown.items())]
    lines.append(f"{outcome.files} file(s): {outcome.inserted} tick(s) added, "
                 f"{outcome.duplicates} duplicate(s), {len(outcome.bad)} bad row(s)"
                 f" and {sum(outcome.unknown.values())} tick(s) of unknown symbols skipped")
    return "\n".join(lines)
