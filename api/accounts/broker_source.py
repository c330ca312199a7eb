"""`?source=broker`: an account's positions, holdings or funds as its broker reports them.

The API never talks to a broker: it reads the answer the worker cached in Redis
(shared.messaging.broker_reads) or, when there is none, queues `broker.read` on the broker's
queue and waits for it, at most BROKER_READ_TIMEOUT_SECONDS (then 504 broker_timeout).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Annotated, Any, Literal

from fastapi import Query
from redis.asyncio import Redis
from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from api.errors import ApiError
from api.responses import Responses
from shared.brokers.catalog import Broker, queue_for
from shared.db.repositories import accounts
from shared.domain.errors import InvalidOrder, NotFound
from shared.messaging import broker_reads, tasks
from shared.messaging.enqueue import send
from shared.settings import Settings

Source = Annotated[Literal["ordergate", "broker"], Query(
    description="ordergate: its own books (default); broker: what the broker of `account_id` "
                "reports now (a broker connection; cached for a few seconds)")]
POLL_SECONDS = 0.05
FROM_BROKER: Responses = {
    422: {"description": "source=broker without `account_id` (`account_required`), for the "
                         "paper account (`not_a_broker_account`), or an invalid parameter"},
    502: {"description": "the broker refused the request (`broker_error`, its code in "
                         "`details.broker_code`)"},
    504: {"description": "the broker did not answer in BROKER_READ_TIMEOUT_SECONDS "
                         "(`broker_timeout`)"},
}


async def owned_account(conn: AsyncConnection, user_id: uuid.UUID,
                        account_id: uuid.UUID) -> RowMapping:
    """One of the user's accounts; 404 for another user's or none."""
    account = await accounts.get_owned(conn, user_id, account_id)
    if account is None:
        raise NotFound(f"account {account_id} not found", details={"field": "account_id"})
    return account


def broker_account(account: RowMapping | None) -> RowMapping:
    """The broker connection `?source=broker` asks; 422 for none or the paper account."""
    if account is None:
        raise InvalidOrder("source=broker asks one broker connection: name it with account_id",
                           code="account_required", details={"field": "account_id"})
    if account["broker"] == Broker.PAPER.value:
        raise InvalidOrder("the paper account has no broker to ask; source=broker needs a "
                           "broker connection", code="not_a_broker_account",
                           details={"field": "source"})
    return account


async def from_broker(redis: Redis, settings: Settings, account: RowMapping,
                      kind: broker_reads.Kind) -> dict[str, Any]:
    """The broker's answer of `kind` for the account, from the cache or asked for now."""
    key = broker_reads.cache_key(account["id"], kind)
    raw = await redis.get(key)
    if raw is None:
        timeout = settings.broker_read_timeout_seconds
        await send(redis, tasks.BROKER_READ, [str(account["id"]), kind],
                   queue_for(Broker(account["broker"])), expires_in=timeout)
        deadline = time.monotonic() + timeout
        while raw is None and time.monotonic() < deadline:
            await asyncio.sleep(POLL_SECONDS)
            raw = await redis.get(key)
    if raw is None:
        raise ApiError(504, f"{account['broker']} did not answer in time; try again",
                       code="broker_timeout", details={"broker": account["broker"]})
    payload = broker_reads.decode(raw)
    if "error" in payload:
        raise ApiError(502, f"{account['broker']} refused the request: "
                            f"{payload['error']['message']}", code="broker_error",
                       details={"broker": account["broker"],
                                "broker_code": payload["error"]["code"]})
    return {"account_id": str(account["id"]), "broker": account["broker"], "source": "broker",
            kind: payload["data"]}
