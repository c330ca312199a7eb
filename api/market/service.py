"""Instrument lookups for order validation (cached in-process per symbol), and market query
rules."""

from __future__ import annotations

import time

from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db.repositories import market
from shared.domain.bars import InvalidMarketQuery
from shared.domain.risk import Instrument
from shared.market.instrument_files import MAX_SYMBOL


class InstrumentCache:
    """Symbols → instruments, each re-read after `ttl` seconds, an unknown one after
    `miss_reload` seconds (an import may have added it).

    Per symbol, not the whole table: an imported master holds ~100,000 instruments, which a
    full reload would read again for every unknown symbol asked. At most `max_entries` are
    kept, so unknown symbols sent by a client cannot grow the process without bound.
    """

    def __init__(self, engine: AsyncEngine, ttl: float = 60.0, miss_reload: float = 5.0,
                 max_entries: int = 50_000) -> None:
        self._engine = engine
        self._ttl = ttl
        self._miss_reload = miss_reload
        self._max_entries = max_entries
        self._entries: dict[str, tuple[Instrument | None, float]] = {}

    async def get(self, symbol: str) -> Instrument | None:
        """Return the instrument for `symbol`, or None if it is not in the universe."""
        now = time.monotonic()
        cached = self._entries.get(symbol)
        if cached is not None:
            instrument, read_at = cached
            if now - read_at <= (self._ttl if instrument else self._miss_reload):
                return instrument
        async with self._engine.connect() as conn:
            instrument = await market.get_instrument(conn, symbol)
        if len(self._entries) >= self._max_entries:
            self._entries.clear()
        self._entries[symbol] = (instrument, now)
        return instrument


def parse_symbols(symbols: str, cap: int) -> list[str]:
    """The distinct symbols of a comma-separated list, upper-cased, in their order."""
    names = list(dict.fromkeys(s.strip().upper() for s in symbols.split(",") if s.strip()))
    if not names:
        raise InvalidMarketQuery("symbols must name at least one symbol",
                                 details={"field": "symbols"})
    if len(names) > cap:
        raise InvalidMarketQuery(f"at most {cap} symbols per call, were {len(names)}",
                                 code="too_many_symbols",
                                 details={"field": "symbols", "limit": cap})
    too_long = [name for name in names if len(name) > MAX_SYMBOL]
    if too_long:
        raise InvalidMarketQuery(f"a symbol is at most {MAX_SYMBOL} characters, was "
                                 f"{too_long[0]!r}", details={"field": "symbols"})
    return names
