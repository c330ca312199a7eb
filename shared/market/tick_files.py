"""Read tick files: CSVs of `ltp, ltq, buyprice, buyqty, sellprice, sellqty, openinterest,
timestamp`, with or without a `symbol` column.

Pure parsing over decoded lines, like `instrument_files`: every record becomes a `TickRow` or a
`BadTick` naming its file and line. A file without a `symbol` column is one symbol's ticks: the
caller names it (from `--symbol` or the file's name, `symbol_of`). A timestamp without an
offset is a wall time at the symbol's exchange, which only the importer knows: it is kept naive.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import PurePosixPath

from shared.market.instrument_files import (
    DECIMAL,
    MAX_SYMBOL,
    SYMBOL,
    FileFormatError,
    RowError,
    numbered_records,
)

COLUMNS = ("ltp", "ltq", "buyprice", "buyqty", "sellprice", "sellqty", "openinterest",
           "timestamp")
PRICES = ("ltp", "buyprice", "sellprice")
QUANTITIES = ("ltq", "buyqty", "sellqty", "openinterest")
# Fits a BIGINT with room to spare; no exchange reports a quantity near it.
MAX_QUANTITY = 10**15
_QUANTITY = re.compile(r"[0-9]{1,16}")
_TIMESTAMP = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}"
                        r"(:[0-9]{2}(\.[0-9]{1,6})?)?(Z|[+-][0-9]{2}:?[0-9]{2})?")


@dataclass(frozen=True, slots=True)
class TickRow:
    """One tick, ready to stage; `ts` is naive when the file gave no offset."""

    source: str
    line: int
    symbol: str
    ts: datetime
    ltp: Decimal
    ltq: int
    buyprice: Decimal
    buyqty: int
    sellprice: Decimal
    sellqty: int
    openinterest: int


@dataclass(frozen=True, slots=True)
class BadTick:
    """A skipped record: the file it is in, its line and why."""

    source: str
    line: int
    reason: str


def symbol_of(name: str) -> str:
    """The symbol a file's name stands for: `RELIANCE.csv` or `ticks/infy.csv` → RELIANCE, INFY."""
    return PurePosixPath(name).stem.upper()


def check_symbol(symbol: str) -> str:
    """`symbol` if it can be one (the instrument master's rules), else RowError."""
    if not SYMBOL.fullmatch(symbol) or len(symbol) > MAX_SYMBOL:
        raise RowError(f"symbol is not valid, was {symbol!r}")
    return symbol


def read(lines: Iterable[str], source: str, symbol: str | None) -> Iterator[TickRow | BadTick]:
    """Parse one file's decoded lines (header first); `symbol` is the file's when it has no
    `symbol` column."""
    reader = csv.reader(lines)
    header = next(reader, None)
    if header is None:
        raise FileFormatError(f"{source} is empty: expected a header row")
    names = [name.strip().lower() for name in [header[0].removeprefix("\ufeff"), *header[1:]]]
    if sorted(names) not in (sorted(COLUMNS), sorted((*COLUMNS, "symbol"))):
        raise FileFormatError(f"{source}: unknown header {','.join(header)!r}: expected "
                              f"{','.join(COLUMNS)}, and optionally symbol, in any order")
    if "symbol" not in names and symbol is None:
        raise FileFormatError(f"{source} has no symbol column: name the symbol")
    for line, record in numbered_records(reader):
        if isinstance(record, str):
            yield BadTick(source, line, record)
        elif len(record) != len(names):
            yield BadTick(source, line, f"expected {len(names)} fields, found {len(record)}")
        else:
            fields = dict(zip(names, (value.strip() for value in record), strict=True))
            try:
                yield _tick(source, line, fields, symbol)
            except RowError as error:
                yield BadTick(source, line, str(error))


def _tick(source: str, line: int, fields: Mapping[str, str], symbol: str | None) -> TickRow:
    named = fields["symbol"].upper() if "symbol" in fields else symbol
    if not named:
        raise RowError("symbol is missing")
    prices = [_price(name, fields[name]) for name in PRICES]
    if prices[0] <= 0:
        raise RowError(f"ltp must be above 0, was {fields['ltp']}")
    ltq, buyqty, sellqty, openinterest = (_quantity(name, fields[name]) for name in QUANTITIES)
    return TickRow(source=source, line=line, symbol=check_symbol(named),
                   ts=_timestamp(fields["timestamp"]), ltp=prices[0], ltq=ltq,
                   buyprice=prices[1], buyqty=buyqty, sellprice=prices[2], sellqty=sellqty,
                   openinterest=openinterest)


def _price(name: str, value: str) -> Decimal:
    if not DECIMAL.fullmatch(value):
        raise RowError(f"{name} must be a plain number with at most 8 decimals, was {value!r}")
    return Decimal(value)


def _quantity(name: str, value: str) -> int:
    if not _QUANTITY.fullmatch(value) or int(value) > MAX_QUANTITY:
        raise RowError(f"{name} must be a whole number from 0 to {MAX_QUANTITY}, was {value!r}")
    return int(value)


def _timestamp(value: str) -> datetime:
    if not _TIMESTAMP.fullmatch(value):
        raise RowError(f"timestamp must read like 2024-01-05 09:15:00 (an offset such as "
                       f"+05:30 optional), was {value!r}")
    try:
        return datetime.fromisoformat(value)
    except ValueError as error:
        raise RowError(f"timestamp is not a real instant, was {value!r} ({error})") from None

