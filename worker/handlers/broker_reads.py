"""Ask a broker for an account's positions (holdings included) or funds, for the API
(shared.messaging.broker_reads): the answer, or the broker's error, goes to Redis for a few
seconds. Nothing is written to the database: this is the broker's own view, shown as it is."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from shared.brokers.catalog import CAPABILITIES, Broker
from shared.brokers.types import BrokerError, NotSent, SessionExpired
from shared.db.repositories import accounts
from shared.messaging import broker_reads
from shared.messaging.order_view import json_value
from worker.runtime import Runtime

log = logging.getLogger(__name__)


async def read_account(runtime: Runtime, account_id: str, kind: str) -> None:
    """Call the broker of `account_id` for `kind` and cache what it answered."""
    try:
        payload: dict[str, Any] = {"data": await _ask(runtime, uuid.UUID(account_id), kind)}
    except BrokerError as error:
        log.info("broker read %s of %s failed: %s", kind, account_id, error)
        payload = {"error": {"code": error.code or "broker_error", "message": str(error)}}
    await runtime.redis.set(broker_reads.cache_key(account_id, kind),
                            broker_reads.encode(payload),
                            ex=max(1, round(runtime.settings.broker_read_cache_seconds)))


async def _gate(runtime: Runtime, broker: Broker, account_id: uuid.UUID) -> None:
    """Ask nothing of a broker whose circuit is open or whose request budget for the account
    is used up: orders come first, and the client may simply ask again."""
    retry_in = await runtime.brokers.breaker.allow(broker)
    if retry_in is not None:
        raise NotSent(f"{broker.value} is unavailable (circuit open); ask again in "
                      f"{max(retry_in, 1):.0f} s", broker=broker, code="circuit_open")
    wait = await runtime.brokers.limiter.acquire(broker, str(account_id),
                                                 CAPABILITIES[broker].rate_limit)
    if wait > 0:
        raise NotSent(f"the {broker.value} request budget of this account is used up; ask "
                      f"again in {max(wait, 1):.0f} s", broker=broker, code="rate_limited")


async def _ask(runtime: Runtime, account_id: uuid.UUID, kind: str) -> Any:
    async with runtime.engine.connect() as conn:
        account = await accounts.connection(conn, account_id)
    if account is None or account["credentials"] is None:
        raise SessionExpired("the connection was removed; connect the broker again",
                             broker=Broker(account["broker"]) if account else Broker.PAPER,
                             code="no_connection")
    await _gate(runtime, Broker(account["broker"]), account_id)
    adapter = await runtime.brokers.adapter(account)
    if kind == "funds":
        funds = await adapter.funds()
        return {"currency": funds.currency, "available_cash": json_value(funds.available_cash),
                "used_margin": json_value(funds.used_margin)}
    return [{"symbol": p.symbol, "exchange": p.exchange, "quantity": json_value(p.quantity),
             "avg_price": json_value(p.avg_price), "product": p.product}
            for p in await adapter.positions()]
