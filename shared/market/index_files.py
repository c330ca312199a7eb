"""Read a CSV of market index definitions: one row per constituent.

    index,name,exchange,currency,base_level,symbol,weight,base_price
    NIFTY50,NIFTY 50,NSE,INR,24000,RELIANCE,0.09,2950.00

Pure parsing over decoded lines, numbered as shared.market.instrument_files numbers them; the
rows of one index must agree on its name, exchange, currency and base level.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal

from shared.market.instrument_files import (
    DECIMAL,
    MAX_SYMBOL,
    SYMBOL,
    BadRow,
    FileFormatError,
    RowError,
    column_names,
    numbered_records,
)

COLUMNS = ("index", "name", "exchange", "currency", "base_level", "symbol", "weight",
           "base_price")
_CODE = re.compile(r"[A-Z0-9][A-Z0-9&._\-]{0,31}")
_EXCHANGE = re.compile(r"[A-Z][A-Z0-9]{1,15}")
_CURRENCY = re.compile(r"[A-Z]{3}")
MAX_NAME = 100


@dataclass(frozen=True, slots=True)
class IndexRow:
    """One constituent of an index, with the index's definition."""

    line: int
    code: str
    name: str
    exchange: str
    currency: str
    base_level: Decimal
    symbol: str
    weight: Decimal
    base_price: Decimal


def read(lines: Iterable[str]) -> Iterator[IndexRow | BadRow]:
    """Parse an index file's decoded lines (header first) into constituents and bad rows."""
    reader = csv.reader(lines)
    names = column_names(reader)
    missing = [name for name in COLUMNS if name not in names]
    if missing:
        raise FileFormatError(f"not an index file: no {', '.join(missing)} column "
                              f"(expected {','.join(COLUMNS)})")
    first: dict[str, IndexRow] = {}
    seen: dict[tuple[str, str], int] = {}
    for line, record in numbered_records(reader):
        if isinstance(record, str):
            yield BadRow(line, record)
            continue
        if len(record) != len(names):
            yield BadRow(line, f"expected {len(names)} fields, found {len(record)}")
            continue
        try:
            row = _parse(line, dict(zip(names, (v.strip() for v in record), strict=True)))
        except RowError as error:
            yield BadRow(line, str(error))
            continue
        key = (row.code, row.symbol)
        defined = first.setdefault(row.code, row)
        if key in seen:
            yield BadRow(line, f"duplicate of line {seen[key]} ({row.code} {row.symbol})")
        elif _definition(defined) != _definition(row):
            yield BadRow(line, f"{row.code} is defined differently on line {defined.line}")
        else:
            seen[key] = line
            yield row


def _definition(row: IndexRow) -> tuple[str, str, str, Decimal]:
    return row.name, row.exchange, row.currency, row.base_level


def _parse(line: int, fields: Mapping[str, str]) -> IndexRow:
    name = fields["name"]
    if not name or len(name) > MAX_NAME or not name.isprintable():
        raise RowError(f"name must be 1 to {MAX_NAME} printable characters, was {name!r}")
    symbol = _matching("symbol", fields["symbol"].upper(), SYMBOL)
    if len(symbol) > MAX_SYMBOL:
        raise RowError(f"symbol is longer than {MAX_SYMBOL} characters, was {symbol!r}")
    return IndexRow(
        line=line, code=_matching("index", fields["index"].upper(), _CODE), name=name,
        exchange=_matching("exchange", fields["exchange"].upper(), _EXCHANGE),
        currency=_matching("currency", fields["currency"].upper(), _CURRENCY),
        base_level=_positive("base_level", fields["base_level"]), symbol=symbol,
        weight=_positive("weight", fields["weight"]),
        base_price=_positive("base_price", fields["base_price"]))


def _matching(name: str, value: str, pattern: re.Pattern[str]) -> str:
    if not value:
        raise RowError(f"{name} is missing")
    if not pattern.fullmatch(value):
        raise RowError(f"{name} is not valid, was {value!r}")
    return value


def _positive(name: str, value: str) -> Decimal:
    if not DECIMAL.fullmatch(value) or Decimal(value) <= 0:
        raise RowError(f"{name} must be a plain positive number, was {value!r}")
    return Decimal(value)
