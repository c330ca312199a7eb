"""Instrument lookups for order validation, cached in-process (the universe changes rarely)."""

from __future__ import annotations

import time

from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db.repositories import market
from shared.domain.risk import Instrument


class InstrumentCache:
    """Symbols → instruments, reloaded after `ttl` seconds or when an unknown symbol is asked."""

    def __init__(self, engine: AsyncEngine, ttl: float = 60.0, miss_reload: float = 5.0) -> None:
        self._engine = engine
        self._ttl = ttl
        self._miss_reload = miss_reload
        self._by_symbol: dict[str, Instrument] = {}
        self._loaded_at = float("-inf")

    async def get(self, symbol: str) -> Instrument | None:
        """Return the instrument for `symbol`, or None if it is not in the universe."""
        age = time.monotonic() - self._loaded_at
        if age > self._ttl or (symbol not in self._by_symbol and age > self._miss_reload):
            await self._reload()
        return self._by_symbol.get(symbol)

    async def _reload(self) -> None:
        async with self._engine.connect() as conn:
            self._by_symbol = await market.load_instruments(conn)
        self._loaded_at = time.monotonic()
