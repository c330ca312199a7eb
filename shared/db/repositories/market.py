"""SQL for instruments and quotes (quotes live in PostgreSQL: the paper exchange fills at them)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import RowMapping, text
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.db.repositories.pages import escape_like
from shared.domain.risk import Instrument
from shared.market.instrument_files import InstrumentRow


async def list_symbols(conn: AsyncConnection, limit: int,
                       after: str | None) -> Sequence[RowMapping]:
    """Up to `limit` instruments of the universe by symbol, after the symbol `after` (the
    primary key's order: a deep page reads the index from there)."""
    result = await conn.execute(
        text("SELECT symbol, name, exchange, currency, tick_size, lot_size FROM instruments"
             " WHERE symbol > :after ORDER BY symbol LIMIT :limit"),
        {"after": after or "", "limit": limit})
    return result.mappings().all()


async def get_quote(conn: AsyncConnection, symbol: str) -> RowMapping | None:
    """Return the current quote of a symbol, or None."""
    result = await conn.execute(
        text("SELECT symbol, bid, ask, last, ts FROM quotes WHERE symbol = :symbol"),
        {"symbol": symbol},
    )
    return result.mappings().first()


async def get_ask(conn: AsyncConnection, symbol: str) -> Decimal | None:
    """Return the current ask of a symbol, or None."""
    result = await conn.execute(text("SELECT ask FROM quotes WHERE symbol = :symbol"),
                                {"symbol": symbol})
    ask: Decimal | None = result.scalar()
    return ask


async def set_quote(conn: AsyncConnection, symbol: str, bid: Decimal, ask: Decimal,
                    last: Decimal, *, bid_size: Decimal, ask_size: Decimal) -> int | None:
    """Replace a symbol's quote with a new one (the next seq, fresh sizes); its seq, or None
    for an unknown symbol."""
    result = await conn.execute(
        text("UPDATE quotes SET bid = :bid, ask = :ask, last = :last, bid_size = :bid_size,"
             " ask_size = :ask_size, seq = seq + 1, ts = now() WHERE symbol = :symbol"
             " RETURNING seq"),
        {"symbol": symbol, "bid": bid, "ask": ask, "last": last, "bid_size": bid_size,
         "ask_size": ask_size},
    )
    seq: int | None = result.scalar()
    return seq


@dataclass(frozen=True, slots=True)
class NewQuote:
    """A symbol's next quote."""

    symbol: str
    bid: Decimal
    ask: Decimal
    last: Decimal
    bid_size: Decimal
    ask_size: Decimal


async def set_quotes(conn: AsyncConnection, quotes: Sequence[NewQuote]) -> None:
    """Replace many quotes with their next ones (seq + 1, fresh sizes), locked in symbol order."""
    ordered = sorted(quotes, key=lambda q: q.symbol)
    if not ordered:
        return
    # Locked first in symbol order: an UPDATE ... FROM takes its rows in whatever order its
    # plan joins them, and a batch of submits locks the same rows sorted.
    await conn.execute(
        text("SELECT symbol FROM quotes WHERE symbol = ANY(:symbols) ORDER BY symbol"
             " FOR UPDATE"), {"symbols": [q.symbol for q in ordered]})
    await conn.execute(
        text("UPDATE quotes SET bid = n.bid, ask = n.ask, last = n.last, bid_size = n.bid_size,"
             " ask_size = n.ask_size, seq = quotes.seq + 1, ts = now()"
             " FROM (SELECT * FROM unnest(CAST(:symbols AS text[]), CAST(:bids AS numeric[]),"
             "   CAST(:asks AS numeric[]), CAST(:lasts AS numeric[]),"
             "   CAST(:bid_sizes AS numeric[]), CAST(:ask_sizes AS numeric[]))"
             "   AS u(symbol, bid, ask, last, bid_size, ask_size)) AS n"
             " WHERE quotes.symbol = n.symbol"),
        {"symbols": [q.symbol for q in ordered], "bids": [q.bid for q in ordered],
         "asks": [q.ask for q in ordered], "lasts": [q.last for q in ordered],
         "bid_sizes": [q.bid_size for q in ordered], "ask_sizes": [q.ask_size for q in ordered]})


async def upsert_quote(conn: AsyncConnection, quote: NewQuote) -> None:
    """Make `quote` the symbol's next quote (seq + 1), or its first: an imported instrument has
    none until one is set."""
    await conn.execute(
        text("INSERT INTO quotes AS q (symbol, bid, ask, last, bid_size, ask_size)"
             " VALUES (:symbol, :bid, :ask, :last, :bid_size, :ask_size)"
             " ON CONFLICT (symbol) DO UPDATE SET bid = excluded.bid, ask = excluded.ask,"
             " last = excluded.last, bid_size = excluded.bid_size, ask_size = excluded.ask_size,"
             " seq = q.seq + 1, ts = now()"),
        {"symbol": quote.symbol, "bid": quote.bid, "ask": quote.ask, "last": quote.last,
         "bid_size": quote.bid_size, "ask_size": quote.ask_size})


# What the paper exchange trades on: the quote with its sizes and seq, and the instrument's
# tick and exchange (for slippage and the session check).
_BOOK_QUOTE = text("SELECT q.symbol, q.bid, q.ask, q.last, q.bid_size, q.ask_size, q.seq,"
                   " i.tick_size, i.lot_size, i.exchange FROM quotes q JOIN instruments i"
                   " USING (symbol) WHERE q.symbol = ANY(:symbols) ORDER BY q.symbol"
                   " FOR UPDATE OF q")


async def lock_quotes(conn: AsyncConnection, symbols: Sequence[str]) -> dict[str, RowMapping]:
    """Lock the quotes of `symbols` FOR UPDATE in symbol order (after the orders, before any
    position or account: the global lock order) and return each with its instrument."""
    result = await conn.execute(_BOOK_QUOTE, {"symbols": sorted(set(symbols))})
    return {row["symbol"]: row for row in result.mappings()}


_TAKE_SIZES = text(
    "UPDATE quotes q SET bid_size = q.bid_size - t.bid, ask_size = q.ask_size - t.ask"
    " FROM unnest(CAST(:symbols AS text[]), CAST(:bids AS numeric[]),"
    " CAST(:asks AS numeric[])) AS t(symbol, bid, ask) WHERE q.symbol = t.symbol")


async def take_sizes(conn: AsyncConnection,
                     taken: Mapping[str, tuple[Decimal, Decimal]]) -> None:
    """Spend (bid, ask) size at the touch of locked quotes, by symbol, in one statement (the
    CHECK refuses an overspend)."""
    spent = sorted((symbol, bid, ask) for symbol, (bid, ask) in taken.items() if bid or ask)
    if not spent:
        return
    await conn.execute(
        _TAKE_SIZES,
        {"symbols": [s for s, _, _ in spent], "bids": [b for _, b, _ in spent],
         "asks": [a for _, _, a in spent]})


async def all_quotes(conn: AsyncConnection) -> Sequence[RowMapping]:
    """Return every quote with its instrument's tick and lot, in symbol order (the order a
    tick locks them in)."""
    result = await conn.execute(
        text("SELECT q.symbol, q.bid, q.ask, q.last, i.tick_size, i.lot_size FROM quotes q"
             " JOIN instruments i USING (symbol) ORDER BY q.symbol")
    )
    return result.mappings().all()


async def broker_instrument(conn: AsyncConnection, symbol: str) -> RowMapping | None:
    """What an adapter needs to name `symbol` at a broker: exchange, ISIN, broker refs."""
    result = await conn.execute(
        text("SELECT symbol, exchange, currency, isin, broker_refs FROM instruments"
             " WHERE symbol = :symbol"), {"symbol": symbol})
    return result.mappings().first()


async def get_instrument(conn: AsyncConnection, symbol: str) -> Instrument | None:
    """Return one tradable instrument, or None."""
    result = await conn.execute(
        text("SELECT symbol, currency, tick_size, lot_size, exchange FROM instruments"
             " WHERE symbol = :symbol"), {"symbol": symbol})
    row = result.first()
    if row is None:
        return None
    return Instrument(row.symbol, row.currency, row.tick_size, row.lot_size, row.exchange)


async def get_quotes(conn: AsyncConnection, symbols: Sequence[str]) -> dict[str, RowMapping]:
    """Return the current quotes of `symbols` that have one, by symbol."""
    result = await conn.execute(
        text("SELECT symbol, bid, ask, last, ts FROM quotes WHERE symbol = ANY(:symbols)"),
        {"symbols": list(symbols)})
    return {row["symbol"]: row for row in result.mappings()}


# Ranks: the exact symbol, then symbols and names starting with the query, then names with
# a word starting with it, then the rest of what the trigram indexes find (3+ characters).
_SEARCH = """
SELECT symbol, name, exchange, segment, currency, tick_size, lot_size FROM (
  SELECT *, CASE WHEN symbol = :q THEN 0 WHEN symbol LIKE :prefix THEN 1
                 WHEN lower(name) LIKE :name_prefix THEN 2
                 WHEN lower(name) LIKE :word_prefix THEN 3 ELSE 4 END AS rank
  FROM instruments
  WHERE symbol LIKE :prefix OR lower(name) LIKE :name_prefix {contains}
) AS found ORDER BY rank, length(symbol), symbol LIMIT :limit
"""
_CONTAINS = "OR symbol LIKE :infix OR lower(name) LIKE :name_infix"
# Below three characters a trigram index cannot answer a substring match: prefixes only.
MIN_INFIX = 3


async def search_instruments(conn: AsyncConnection, query: str,
                             limit: int) -> Sequence[RowMapping]:
    """Instruments matching `query` by symbol or name, best matches first."""
    q, name = escape_like(query.upper()), escape_like(query.lower())
    contains = _CONTAINS if len(query) >= MIN_INFIX else ""
    result = await conn.execute(
        text(_SEARCH.format(contains=contains)),
        {"q": query.upper(), "prefix": f"{q}%", "name_prefix": f"{name}%",
         "word_prefix": f"% {name}%", "infix": f"%{q}%", "name_infix": f"%{name}%",
         "limit": limit})
    return result.mappings().all()


_STAGING_COLUMNS = ("line", "symbol", "name", "exchange", "segment", "currency", "tick_size",
                    "lot_size", "isin", "broker_refs")


async def create_staging(conn: AsyncConnection) -> None:
    """Create this transaction's staging table for an instrument import."""
    await conn.execute(text(
        "CREATE TEMP TABLE instrument_staging (line integer NOT NULL, symbol text NOT NULL,"
        " name text NOT NULL, exchange text NOT NULL, segment text, currency text NOT NULL,"
        " tick_size numeric NOT NULL, lot_size numeric NOT NULL, isin text,"
        " broker_refs jsonb NOT NULL) ON COMMIT DROP"))


async def copy_to_staging(conn: AsyncConnection, rows: Sequence[InstrumentRow]) -> None:
    """Bulk COPY parsed rows into the staging table."""
    raw = await conn.get_raw_connection()
    records = [(r.line, r.symbol, r.name, r.exchange, r.segment, r.currency, r.tick_size,
                r.lot_size, r.isin, json.dumps(r.refs)) for r in rows]
    await raw.driver_connection.copy_records_to_table(  # type: ignore[union-attr]
        "instrument_staging", records=records, columns=list(_STAGING_COLUMNS))


@dataclass(frozen=True, slots=True)
class Upserted:
    """What an import's upsert changed."""

    inserted: int
    updated: int


# A row already as the file has it is left alone, so a re-import writes nothing. A dump
# without ISINs (Kite's) keeps those already known, and broker identifiers are merged: a
# Kite import keeps Angel One's.
_UPSERT = """
INSERT INTO instruments AS i (symbol, name, exchange, segment, currency, tick_size, lot_size,
                              isin, broker_refs)
SELECT symbol, name, exchange, segment, currency, tick_size, lot_size, isin, broker_refs
FROM instrument_staging ORDER BY symbol
ON CONFLICT (symbol) DO UPDATE SET
  name = excluded.name, exchange = excluded.exchange, segment = excluded.segment,
  currency = excluded.currency, tick_size = excluded.tick_size, lot_size = excluded.lot_size,
  isin = coalesce(excluded.isin, i.isin), broker_refs = i.broker_refs || excluded.broker_refs
WHERE (i.name, i.exchange, i.segment, i.currency, i.tick_size, i.lot_size, i.isin,
       i.broker_refs)
  IS DISTINCT FROM (excluded.name, excluded.exchange, excluded.segment, excluded.currency,
                    excluded.tick_size, excluded.lot_size, coalesce(excluded.isin, i.isin),
                    i.broker_refs || excluded.broker_refs)
RETURNING (xmax = 0) AS inserted
"""


async def upsert_from_staging(conn: AsyncConnection) -> Upserted:
    """Insert or update the instruments from the staging table."""
    flags = (await conn.execute(text(_UPSERT))).scalars().all()
    inserted = sum(1 for flag in flags if flag)
    return Upserted(inserted=inserted, updated=len(flags) - inserted)
