"""SQL for market indices: their definitions, their constituents' prices, and the import."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import RowMapping, text
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.market.index_files import IndexRow


async def list_indices(conn: AsyncConnection, limit: int,
                       after: str | None) -> Sequence[RowMapping]:
    """Up to `limit` index definitions by code, after the code `after`."""
    result = await conn.execute(
        text("SELECT code, name, exchange, currency, base_level FROM market_indices"
             " WHERE code > :after ORDER BY code LIMIT :limit"),
        {"after": after or "", "limit": limit})
    return result.mappings().all()


# A constituent's price is its quote's last (what the paper exchange trades at now), else its
# latest recorded tick; its previous close the last tick before `day_start` (the start of the
# index's exchange day). Each a probe of the ticks' (symbol, ts, ...) index, backwards.
_CONSTITUENTS = """
SELECT c.index_code, c.symbol, c.weight, c.base_price,
       coalesce(q.last, latest.ltp) AS price, closed.ltp AS previous_close
FROM index_constituents c
JOIN unnest(CAST(:codes AS text[]), CAST(:day_starts AS timestamptz[])) AS d(code, day_start)
  ON d.code = c.index_code
LEFT JOIN quotes q ON q.symbol = c.symbol
LEFT JOIN LATERAL (SELECT ltp FROM ticks t WHERE t.symbol = c.symbol
                   ORDER BY t.ts DESC LIMIT 1) latest ON TRUE
LEFT JOIN LATERAL (SELECT ltp FROM ticks t WHERE t.symbol = c.symbol AND t.ts < d.day_start
                   ORDER BY t.ts DESC LIMIT 1) closed ON TRUE
ORDER BY c.index_code, c.weight DESC, c.symbol
"""


async def constituents(conn: AsyncConnection,
                       day_starts: dict[str, datetime]) -> Sequence[RowMapping]:
    """The constituents of the indices in `day_starts` (code: the start of its day) with their
    price now and their previous close, heaviest first."""
    codes = sorted(day_starts)
    result = await conn.execute(text(_CONSTITUENTS), {
        "codes": codes, "day_starts": [day_starts[code] for code in codes]})
    return result.mappings().all()


async def currencies(conn: AsyncConnection, symbols: Sequence[str]) -> dict[str, str]:
    """The currency of each of `symbols` in the instrument master."""
    result = await conn.execute(
        text("SELECT symbol, currency FROM instruments WHERE symbol = ANY(:s)"),
        {"s": list(symbols)})
    return {row.symbol: row.currency for row in result}


async def replace(conn: AsyncConnection, rows: Sequence[IndexRow]) -> tuple[int, int]:
    """Make each index of `rows` exactly as they define it (its constituents replaced);
    return how many indices and constituents changed (0, 0 for a file already imported)."""
    changed_indices = changed_constituents = 0
    for code in sorted({row.code for row in rows}):
        mine = [row for row in rows if row.code == code]
        head = mine[0]
        result = await conn.execute(text(
            "INSERT INTO market_indices AS m (code, name, exchange, currency, base_level)"
            " VALUES (:code, :name, :exchange, :currency, :base_level)"
            " ON CONFLICT (code) DO UPDATE SET name = excluded.name,"
            " exchange = excluded.exchange, currency = excluded.currency,"
            " base_level = excluded.base_level"
            " WHERE (m.name, m.exchange, m.currency, m.base_level) IS DISTINCT FROM"
            " (excluded.name, excluded.exchange, excluded.currency, excluded.base_level)"),
            {"code": code, "name": head.name, "exchange": head.exchange,
             "currency": head.currency, "base_level": head.base_level})
        changed_indices += result.rowcount
        gone = await conn.execute(text(
            "DELETE FROM index_constituents WHERE index_code = :code"
            " AND NOT symbol = ANY(:symbols)"),
            {"code": code, "symbols": [row.symbol for row in mine]})
        upserted = await conn.execute(text(
            "INSERT INTO index_constituents AS c (index_code, symbol, weight, base_price)"
            " SELECT :code, * FROM unnest(CAST(:symbols AS text[]),"
            " CAST(:weights AS numeric[]), CAST(:bases AS numeric[]))"
            " ON CONFLICT (index_code, symbol) DO UPDATE SET weight = excluded.weight,"
            " base_price = excluded.base_price"
            " WHERE (c.weight, c.base_price) IS DISTINCT FROM"
            " (excluded.weight, excluded.base_price)"),
            {"code": code, "symbols": [row.symbol for row in mine],
             "weights": [row.weight for row in mine], "bases": [row.base_price for row in mine]})
        changed_constituents += gone.rowcount + upserted.rowcount
    return changed_indices, changed_constituents
