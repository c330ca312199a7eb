"""Read a Zerodha (Kite Console) tradebook CSV into journal trades.

Pure parsing over decoded lines, as shared.market.instrument_files does: every record becomes
a `TradebookRow` or a `BadRow` naming its line. The columns are Console's: symbol, isin,
trade_date, exchange, segment, series, trade_type, auction, quantity, price, trade_id,
order_id, order_execution_time (in any order; times are India's, without a zone).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

from shared.domain.enums import Side
from shared.market.instrument_files import (
    DECIMAL,
    HOME_EXCHANGE,
    MAX_SYMBOL,
    SYMBOL,
    BadRow,
    FileFormatError,
    RowError,
    column_names,
    numbered_records,
)

COLUMNS = ("symbol", "isin", "trade_date", "exchange", "segment", "series", "trade_type",
           "auction", "quantity", "price", "trade_id", "order_id", "order_execution_time")
_REQUIRED = ("symbol", "trade_date", "exchange", "segment", "trade_type", "quantity", "price",
             "trade_id")
INDIA = ZoneInfo("Asia/Kolkata")
# Console names the cash exchange of a derivative (NSE, BSE); the instrument master, as Kite's
# instruments dump, names its derivatives exchange (NFO, BFO).
_DERIVATIVES = {"NSE": "NFO", "BSE": "BFO"}
_TYPES = {"EQ": "eq", "FO": "fno"}
_TRADE_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


@dataclass(frozen=True, slots=True)
class TradebookRow:
    """One trade of the tradebook, ready to journal."""

    line: int
    symbol: str
    side: Side
    quantity: Decimal
    price: Decimal
    executed_at: datetime
    type: str
    trade_id: str


def read(lines: Iterable[str]) -> Iterator[TradebookRow | BadRow]:
    """Parse a tradebook's decoded lines (header first) into trades and bad rows."""
    reader = csv.reader(lines)
    names = column_names(reader)
    missing = [name for name in _REQUIRED if name not in names]
    if missing:
        raise FileFormatError(f"not a Zerodha tradebook: no {', '.join(missing)} column "
                              f"(expected {','.join(COLUMNS)})")
    first_line: dict[str, int] = {}
    for line, record in numbered_records(reader):
        if isinstance(record, str):
            yield BadRow(line, record)
        elif len(record) != len(names):
            yield BadRow(line, f"expected {len(names)} fields, found {len(record)}")
        else:
            try:
                row = _parse(line, dict(zip(names, (v.strip() for v in record), strict=True)))
            except RowError as error:
                yield BadRow(line, str(error))
                continue
            if row.trade_id in first_line:
                yield BadRow(line, f"duplicate of line {first_line[row.trade_id]} "
                                   f"(trade_id {row.trade_id})")
                continue
            first_line[row.trade_id] = line
            yield row


def _parse(line: int, fields: Mapping[str, str]) -> TradebookRow:
    segment = fields["segment"].upper()
    if segment not in _TYPES:
        raise RowError(f"segment {fields['segment']!r} is not one the journal takes (EQ, FO)")
    exchange = fields["exchange"].upper()
    if segment == "FO":
        exchange = _DERIVATIVES.get(exchange, exchange)
    tradingsymbol = fields["symbol"].upper()
    if not tradingsymbol or not SYMBOL.fullmatch(tradingsymbol):
        raise RowError(f"symbol is not valid, was {fields['symbol']!r}")
    symbol = tradingsymbol if exchange == HOME_EXCHANGE else f"{exchange}:{tradingsymbol}"
    if len(symbol) > MAX_SYMBOL:
        raise RowError(f"symbol is longer than {MAX_SYMBOL} characters, was {symbol!r}")
    try:
        side = Side(fields["trade_type"].upper())
    except ValueError:
        raise RowError(f"trade_type must be buy or sell, was {fields['trade_type']!r}") from None
    if not _TRADE_ID.fullmatch(fields["trade_id"]):
        raise RowError(f"trade_id is not valid, was {fields['trade_id']!r}")
    return TradebookRow(line=line, symbol=symbol, side=side,
                        quantity=_positive("quantity", fields["quantity"]),
                        price=_positive("price", fields["price"]),
                        executed_at=_executed_at(fields), type=_TYPES[segment],
                        trade_id=fields["trade_id"])


def _positive(name: str, value: str) -> Decimal:
    if not DECIMAL.fullmatch(value) or Decimal(value) <= 0:
        raise RowError(f"{name} must be a plain positive number, was {value!r}")
    return Decimal(value)


def _executed_at(fields: Mapping[str, str]) -> datetime:
    """The execution time in India's zone; a trade without one (older tradebooks) counts at
    the start of its trade date."""
    try:
        day = date.fromisoformat(fields["trade_date"])
    except ValueError:
        raise RowError(f"trade_date must be YYYY-MM-DD, was {fields['trade_date']!r}") from None
    raw = fields.get("order_execution_time", "")
    if not raw:
        return datetime.combine(day, time(), tzinfo=INDIA)
    try:
        at = datetime.fromisoformat(raw)
    except ValueError:
        raise RowError(f"order_execution_time must be YYYY-MM-DDTHH:MM:SS, was {raw!r}") from None
    if at.tzinfo is not None:
        raise RowError(f"order_execution_time is India's time, without a zone, was {raw!r}")
    if at.date() != day:
        raise RowError(f"order_execution_time {raw} is not on trade_date {day}")
    return at.replace(tzinfo=INDIA)
