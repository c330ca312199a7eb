"""SQL for the trending lists: each symbol's latest day of recorded ticks, ranked."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from sqlalchemy import RowMapping, text
from sqlalchemy.ext.asyncio import AsyncConnection


class Kind(StrEnum):
    """Which trending list: biggest rise, biggest fall, or most traded."""

    GAINERS = "gainers"
    LOSERS = "losers"
    ACTIVE = "active"


# A symbol's day is the local day (at its exchange) of its latest tick, found in tick_ranges
# (one row per symbol, kept by the import) rather than by scanning ticks. Each figure is then
# read from the 1-minute bars (tick_bars_1m, kept by triggers on ticks) by their primary key:
# the close of the latest tick's minute, the open of the day's first minute, the close of the
# last minute before the day (the previous close), and the day's volume, a day's bars (at most
# 1,440) rather than its ticks. A day starts on a whole minute (every time zone's offset has
# been whole minutes since 1972), so these are the raw ticks' figures. The change is from the
# previous close, or from the day's open for a symbol with no earlier day.
TRENDING_QUERY = """
WITH days AS (
  SELECT r.symbol, i.name, i.exchange, i.currency, r.last_ts,
         CAST(r.last_ts AT TIME ZONE coalesce(z.zone, 'UTC') AS date) AS day,
         date_trunc('day', r.last_ts AT TIME ZONE coalesce(z.zone, 'UTC'))
           AT TIME ZONE coalesce(z.zone, 'UTC') AS day_start
  FROM tick_ranges r
  JOIN instruments i ON i.symbol = r.symbol
  LEFT JOIN unnest(CAST(:exchanges AS text[]), CAST(:zones AS text[])) AS z(exchange, zone)
    ON z.exchange = i.exchange
), figures AS (
  SELECT d.symbol, d.name, d.exchange, d.currency, d.last_ts, d.day,
         latest.close AS last, first.open AS open, closed.close AS previous_close,
         day.volume, day.ticks
  FROM days d
  CROSS JOIN LATERAL (SELECT close FROM tick_bars_1m b WHERE b.symbol = d.symbol
                        AND b.minute <= d.last_ts ORDER BY b.minute DESC LIMIT 1) latest
  CROSS JOIN LATERAL (SELECT open FROM tick_bars_1m b WHERE b.symbol = d.symbol
                        AND b.minute >= d.day_start ORDER BY b.minute LIMIT 1) first
  LEFT JOIN LATERAL (SELECT close FROM tick_bars_1m b WHERE b.symbol = d.symbol
                       AND b.minute < d.day_start ORDER BY b.minute DESC LIMIT 1) closed ON TRUE
  CROSS JOIN LATERAL (SELECT sum(volume) AS volume,
                             CAST(coalesce(sum(ticks), 0) AS bigint) AS ticks
                      FROM tick_bars_1m b WHERE b.symbol = d.symbol
                        AND b.minute >= d.day_start AND b.minute <= d.last_ts) day
), ranked AS (
  SELECT *, coalesce(previous_close, open) AS reference,
         round((last - coalesce(previous_close, open)) * 100
               / coalesce(previous_close, open), 2) AS change_pct
  FROM figures
)
{lists}
"""
# Each list: its kind, which symbols it takes and in which order. The three share the figures
# above (a CTE read by several lists is computed once), the part that costs.
_LISTS = {
    Kind.GAINERS: ("change_pct > 0", "change_pct DESC"),
    Kind.LOSERS: ("change_pct < 0", "change_pct ASC"),
    Kind.ACTIVE: ("volume > 0", "volume DESC"),
}
# A UNION keeps no branch's order of itself: each row carries its place, and the whole is
# sorted by list and place.
_LIST = """(SELECT '{kind}' AS kind, row_number() OVER (ORDER BY {order}, symbol) AS place,
        symbol, name, exchange, currency, last_ts, day, last, open, previous_close,
        last - reference AS change, change_pct, volume, ticks
 FROM ranked WHERE {where} ORDER BY {order}, symbol LIMIT :limit)"""


def trending_query() -> str:
    """The SQL of every trending list at once (shown by EXPLAIN in the tests)."""
    return TRENDING_QUERY.format(lists="\nUNION ALL\n".join(
        _LIST.format(kind=kind.value, where=where, order=order)
        for kind, (where, order) in _LISTS.items()) + "\nORDER BY kind, place")


def trending_params(zones: Mapping[str, str], limit: int) -> dict[str, Any]:
    """The parameters of `trending_query`: each exchange's time zone, and the lists' length."""
    exchanges = sorted(zones)
    return {"exchanges": exchanges, "zones": [zones[name] for name in exchanges],
            "limit": limit}


async def trending(conn: AsyncConnection, zones: Mapping[str, str],
                   limit: int) -> dict[Kind, list[RowMapping]]:
    """Each kind's top `limit` symbols on each one's latest day of ticks, best first."""
    lists: dict[Kind, list[RowMapping]] = {kind: [] for kind in Kind}
    for row in (await conn.execute(text(trending_query()),
                                   trending_params(zones, limit))).mappings():
        lists[Kind(row["kind"])].append(row)
    return lists


# Ticks only ever arrive by the import, which adds each new tick's count to tick_ranges in its
# transaction (a re-import adds none): while this is unchanged, so are the trending lists.
_TICKS_RECORDED = text("SELECT count(*), CAST(coalesce(sum(tick_count), 0) AS bigint)"
                       " FROM tick_ranges")


async def ticks_recorded(conn: AsyncConnection) -> tuple[int, int]:
    """How many symbols have ticks and how many ticks there are, as the imports counted."""
    symbols, count = (await conn.execute(_TICKS_RECORDED)).one()
    return int(symbols), int(count)
