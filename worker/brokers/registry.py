"""Broker adapters for accounts, built from their sealed credentials and kept per process."""

from __future__ import annotations

import importlib
import uuid
from collections.abc import Mapping
from typing import Any, cast

from redis.asyncio import Redis

from shared.brokers.catalog import Broker
from shared.brokers.circuit import CircuitBreaker
from shared.credentials import CredentialBox
from shared.settings import Settings
from worker.brokers.base import AdapterFactory, BrokerAdapter
from worker.brokers.ratelimit import RateLimiter


def adapter_factory(broker: Broker) -> AdapterFactory:
    """The `build` function of a broker's adapter module (worker/brokers/<name>/adapter.py)."""
    module = importlib.import_module(f"worker.brokers.{broker.value}.adapter")
    return cast(AdapterFactory, module.build)


class BrokerAccess:
    """What the worker needs to talk to brokers: adapters, the circuit breaker, rate limits."""

    def __init__(self, settings: Settings, redis: Redis) -> None:
        self.settings = settings
        self.breaker = CircuitBreaker.from_settings(redis, settings)
        self.limiter = RateLimiter(redis)
        self._box = CredentialBox(settings.credentials_key_list)
        # account id -> (the sealed credentials it was built from, adapter)
        self._adapters: dict[uuid.UUID, tuple[str, BrokerAdapter]] = {}

    async def adapter(self, account: Mapping[Any, Any]) -> BrokerAdapter:
        """The adapter of a connection, rebuilt when its credentials changed (a refresh)."""
        sealed: str = account["credentials"] or ""
        cached = self._adapters.get(account["id"])
        if cached is not None and cached[0] == sealed:
            return cached[1]
        if cached is not None:
            await cached[1].aclose()
        broker = Broker(account["broker"])
        session = self._box.open(sealed, user_id=account["user_id"], broker=broker.value,
                                 account_id=account["id"])
        adapter = adapter_factory(broker)(session, self.settings)
        self._adapters[account["id"]] = (sealed, adapter)
        return adapter

    async def aclose(self) -> None:
        """Close every adapter's connections."""
        for _, adapter in self._adapters.values():
            await adapter.aclose()
        self._adapters.clear()
