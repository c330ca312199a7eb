"""Read instrument master files: Kite's instruments dump and a plain CSV (for US names).

Pure parsing over decoded lines: every record becomes an `InstrumentRow` or a `BadRow` naming
its line, so an importer reports the bad ones and goes on. Numbers are plain ASCII decimals:
`Decimal` alone would also take " 1 ", "1_000" and other scripts' digits.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum

# Kite's dump, as documented at kite.trade/docs/connect/v3/market-quotes/#instruments.
KITE_COLUMNS = ("instrument_token", "exchange_token", "tradingsymbol", "name", "last_price",
                "expiry", "strike", "tick_size", "lot_size", "instrument_type", "segment",
                "exchange")
PLAIN_COLUMNS = ("symbol", "name", "exchange", "currency", "tick_size", "lot_size")
PLAIN_OPTIONAL = ("isin", "segment")
# A symbol is the bare trading symbol on this exchange, and EXCHANGE:SYMBOL on the others
# (RELIANCE trades on NSE and BSE alike): the 18 seeded NSE names keep their symbols.
HOME_EXCHANGE = "NSE"
MAX_SYMBOL = 32
MAX_SIZE = Decimal(1_000_000_000)

DECIMAL = re.compile(r"[0-9]{1,12}(\.[0-9]{1,8})?")
_INTEGER = re.compile(r"[0-9]{1,20}")
SYMBOL = re.compile(r"[A-Z0-9][A-Z0-9&._\- ]*")
_EXCHANGE = re.compile(r"[A-Z][A-Z0-9]{1,15}")
_CURRENCY = re.compile(r"[A-Z]{3}")
_ISIN = re.compile(r"[A-Z]{2}[A-Z0-9]{9}[0-9]")


class FileFormat(Enum):
    """The layouts the importer reads, told apart by their header."""

    KITE = "kite"
    PLAIN = "plain"


class FileFormatError(ValueError):
    """The file is not one the importer reads (its header, or its encoding)."""


class RowError(ValueError):
    """A record that cannot be imported, with the reason in full words."""


@dataclass(frozen=True, slots=True)
class InstrumentRow:
    """One instrument of the master, ready to upsert."""

    line: int
    symbol: str
    name: str
    exchange: str
    segment: str | None
    currency: str
    tick_size: Decimal
    lot_size: Decimal
    isin: str | None = None
    # Per broker, the identifiers it names the instrument by (merged into broker_refs).
    refs: Mapping[str, Mapping[str, str]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class BadRow:
    """A skipped record: its line in the file and why."""

    line: int
    reason: str


@dataclass(frozen=True, slots=True)
class Skipped:
    """A record the master has no use for (an index is not tradable), not an error."""

    line: int


Parsed = InstrumentRow | BadRow | Skipped


def detect(header: Sequence[str]) -> FileFormat:
    """Tell the file's layout from its header row."""
    names = [name.strip().lower() for name in header]
    if tuple(names) == KITE_COLUMNS:
        return FileFormat.KITE
    if set(PLAIN_COLUMNS) <= set(names) <= set(PLAIN_COLUMNS + PLAIN_OPTIONAL):
        return FileFormat.PLAIN
    raise FileFormatError(
        f"unknown header {','.join(header)!r}: expected Kite's instruments dump "
        f"({','.join(KITE_COLUMNS)}) or a plain CSV ({','.join(PLAIN_COLUMNS)}"
        f"[,{','.join(PLAIN_OPTIONAL)}])")


def read(lines: Iterable[str]) -> Iterator[Parsed]:
    """Parse a file's decoded lines (header first) into rows, bad rows and skipped ones."""
    reader = csv.reader(lines)
    header = next(reader, None)
    if header is None:
        raise FileFormatError("the file is empty: expected a header row")
    header = [header[0].removeprefix("\ufeff"), *header[1:]]
    fmt = detect(header)
    names = [name.strip().lower() for name in header]
    parse = _parse_kite if fmt is FileFormat.KITE else _parse_plain
    first_line: dict[str, int] = {}
    for line, record in numbered_records(reader):
        yield _checked(line, record, names, parse, first_line)


def column_names(reader: Iterator[list[str]]) -> list[str]:
    """The header row's column names, trimmed and lowercased, without a UTF-8 byte order mark;
    FileFormatError for a file without one."""
    header = next(reader, None)
    if header is None:
        raise FileFormatError("the file is empty: expected a header row")
    return [name.strip().lower() for name in [header[0].removeprefix("\ufeff"), *header[1:]]]


def numbered_records(reader: Iterator[list[str]]) -> Iterator[tuple[int, list[str] | str]]:
    """Each record with its line, or the csv module's complaint in its place."""
    line = getattr(reader, "line_num", 0)
    while True:
        start = line + 1
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            line = reader.line_num  # type: ignore[attr-defined]
            yield start, f"unreadable record ({error}); a stray carriage return?"
            continue
        line = reader.line_num  # type: ignore[attr-defined]
        if record:
            yield start, record


def _checked(line: int, record: list[str] | str, names: list[str],
             parse: Callable[[int, Mapping[str, str]], InstrumentRow | None],
             first_line: dict[str, int]) -> Parsed:
    if isinstance(record, str):
        return BadRow(line, record)
    if len(record) != len(names):
        return BadRow(line, f"expected {len(names)} fields, found {len(record)}")
    try:
        row = parse(line, dict(zip(names, (value.strip() for value in record), strict=True)))
    except RowError as error:
        return BadRow(line, str(error))
    if row is None:
        return Skipped(line)
    if row.symbol in first_line:
        return BadRow(line, f"duplicate of line {first_line[row.symbol]} ({row.symbol})")
    first_line[row.symbol] = line
    return row


def _parse_kite(line: int, fields: Mapping[str, str]) -> InstrumentRow | None:
    if fields["segment"] == "INDICES":
        return None
    exchange = _matching("exchange", fields["exchange"], _EXCHANGE)
    tradingsymbol = _matching("tradingsymbol", fields["tradingsymbol"], SYMBOL)
    symbol = tradingsymbol if exchange == HOME_EXCHANGE else f"{exchange}:{tradingsymbol}"
    _check_length("symbol", symbol, MAX_SYMBOL)
    refs = {"zerodha": {
        "instrument_token": _matching("instrument_token", fields["instrument_token"], _INTEGER),
        "exchange_token": _matching("exchange_token", fields["exchange_token"], _INTEGER),
        "tradingsymbol": tradingsymbol}}
    return InstrumentRow(
        line=line, symbol=symbol, name=fields["name"] or tradingsymbol, exchange=exchange,
        segment=_check_length("segment", fields["segment"], 16) or None, currency="INR",
        tick_size=_size("tick_size", fields["tick_size"], DECIMAL),
        lot_size=_size("lot_size", fields["lot_size"], _INTEGER), refs=refs)


def _parse_plain(line: int, fields: Mapping[str, str]) -> InstrumentRow:
    isin = fields.get("isin") or None
    return InstrumentRow(
        line=line, symbol=_check_length("symbol", _matching("symbol", fields["symbol"].upper(),
                                                            SYMBOL), MAX_SYMBOL),
        name=fields["name"] or fields["symbol"].upper(),
        exchange=_matching("exchange", fields["exchange"].upper(), _EXCHANGE),
        segment=_check_length("segment", fields.get("segment", ""), 16) or None,
        currency=_matching("currency", fields["currency"].upper(), _CURRENCY),
        tick_size=_size("tick_size", fields["tick_size"], DECIMAL),
        lot_size=_size("lot_size", fields["lot_size"], DECIMAL),
        isin=_matching("isin", isin.upper(), _ISIN) if isin else None)


def _matching(name: str, value: str, pattern: re.Pattern[str]) -> str:
    if not value:
        raise RowError(f"{name} is missing")
    if not pattern.fullmatch(value):
        raise RowError(f"{name} is not valid, was {value!r}")
    return value


def _check_length(name: str, value: str, limit: int) -> str:
    if len(value) > limit:
        raise RowError(f"{name} is longer than {limit} characters, was {value!r}")
    return value


def _size(name: str, value: str, pattern: re.Pattern[str]) -> Decimal:
    if not value:
        raise RowError(f"{name} is missing")
    if not pattern.fullmatch(value):
        raise RowError(f"{name} must be a plain positive number, was {value!r}")
    size = Decimal(value)
    if not 0 < size <= MAX_SIZE:
        raise RowError(f"{name} must be above 0 and at most {MAX_SIZE}, was {value}")
    return size
