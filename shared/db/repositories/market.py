"""SQL for instruments and quotes (quotes live in PostgreSQL: the paper exchange fills at them)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from sqlalchemy import RowMapping, text
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.domain.risk import Instrument


async def load_instruments(conn: AsyncConnection) -> dict[str, Instrument]:
    """Return every tradable instrument by symbol."""
    result = await conn.execute(
        text("SELECT symbol, currency, tick_size, lot_size, exchange FROM instruments")
    )
    return {
        row.symbol: Instrument(row.symbol, row.currency, row.tick_size, row.lot_size,
                               row.exchange)
        for row in result
    }


async def list_symbols(conn: AsyncConnection) -> Sequence[RowMapping]:
    """Return the instrument universe, alphabetically."""
    result = await conn.execute(
        text("SELECT symbol, name, exchange, currency, tick_size, lot_size FROM instruments"
             " ORDER BY symbol")
    )
    return result.mappings().all()


async def get_quote(conn: AsyncConnection, symbol: str) -> RowMapping | None:
    """Return the current quote of a symbol, or None."""
    result = await conn.execute(
        text("SELECT symbol, bid, ask, last, ts FROM quotes WHERE symbol = :symbol"),
        {"symbol": symbol},
    )
    return result.mappings().first()


async def get_quotes(conn: AsyncConnection,
                     symbols: Sequence[str]) -> dict[str, RowMapping]:
    """Return the current quote of each symbol that has one."""
    result = await conn.execute(
        text("SELECT symbol, bid, ask, last, ts FROM quotes WHERE symbol = ANY(:symbols)"),
        {"symbols": list(symbols)})
    return {row["symbol"]: row for row in result.mappings()}


async def get_ask(conn: AsyncConnection, symbol: str) -> Decimal | None:
    """Return the current ask of a symbol, or None."""
    result = await conn.execute(text("SELECT ask FROM quotes WHERE symbol = :symbol"),
                                {"symbol": symbol})
    ask: Decimal | None = result.scalar()
    return ask


async def set_quote(conn: AsyncConnection, symbol: str, bid: Decimal, ask: Decimal,
                    last: Decimal) -> None:
    """Replace a symbol's quote."""
    await conn.execute(
        text("UPDATE quotes SET bid = :bid, ask = :ask, last = :last, ts = now()"
             " WHERE symbol = :symbol"),
        {"symbol": symbol, "bid": bid, "ask": ask, "last": last},
    )


async def all_quotes(conn: AsyncConnection) -> Sequence[RowMapping]:
    """Return every quote."""
    result = await conn.execute(
        text("SELECT q.symbol, q.bid, q.ask, q.last, i.tick_size FROM quotes q"
             " JOIN instruments i USING (symbol)")
    )
    return result.mappings().all()


async def broker_instrument(conn: AsyncConnection, symbol: str) -> RowMapping | None:
    """What an adapter needs to name `symbol` at a broker: exchange, ISIN, broker refs."""
    result = await conn.execute(
        text("SELECT symbol, exchange, currency, isin, broker_refs FROM instruments"
             " WHERE symbol = :symbol"), {"symbol": symbol})
    return result.mappings().first()
