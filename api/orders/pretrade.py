"""Between a valid order and its insert: the kill switch, the session, risk limits, the rate.

Each refusal is an expected outcome in the house shape: 409 `account_halted`; 422
`market_closed`; 422 `<limit>_exceeded` naming the limit and the value. Run in this order, the
order rate last, so that an order refused for another reason uses none of the account's rate.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from api.orders.rate import OrderRate
from shared.clock import Clock
from shared.db.repositories import risk
from shared.domain.enums import OrderType, Side, TimeInForce
from shared.domain.errors import Unavailable
from shared.domain.limits import (
    RiskLimits,
    account_halted,
    check_limits,
    needs_exposure,
    needs_price,
    order_rate_exceeded,
    unit_price,
)
from shared.domain.risk import Instrument, OrderRequest
from shared.domain.sessions import Calendar, outside_session
from shared.settings import Settings

log = logging.getLogger(__name__)
IMMEDIATE = frozenset({TimeInForce.IOC, TimeInForce.FOK})
# The namespace of the placement lock among PostgreSQL's advisory locks ("og").
_PLACEMENT_LOCKS = 0x6F67


class ExposureLock:
    """One account's placements, one at a time, from counting its exposure to the insert.

    Two orders checked at once would each count the other out and together pass a limit that
    counts what the account already has (max_open_orders, max_position_value). The insert
    commits on its own (autocommit), so the lock is a session-level advisory lock, taken only
    when such a limit is checked and released right after the insert; statement_timeout bounds
    the wait for it.
    """

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn
        self._account: str | None = None

    async def take(self, account_id: uuid.UUID) -> None:
        """Wait for the account's lock (once per placement)."""
        if self._account is None:
            await self._conn.execute(text("SELECT pg_advisory_lock(:ns, hashtext(:account))"),
                                     {"ns": _PLACEMENT_LOCKS, "account": str(account_id)})
            self._account = str(account_id)

    async def release(self) -> None:
        """Give the lock back; a connection that cannot is closed, which frees it too."""
        if self._account is None:
            return
        try:
            await self._conn.execute(text("SELECT pg_advisory_unlock(:ns, hashtext(:account))"),
                                     {"ns": _PLACEMENT_LOCKS, "account": self._account})
        except Exception as exc:  # noqa: BLE001 - never hand the pool a connection holding it
            log.warning("could not release the placement lock of %s (%s); closing the "
                        "connection frees it", self._account, type(exc).__name__)
            await self._conn.invalidate()
        self._account = None


@contextlib.asynccontextmanager
async def exposure_lock(conn: AsyncConnection) -> AsyncIterator[ExposureLock]:
    """The lock a placement takes if its checks count the account's exposure."""
    lock = ExposureLock(conn)
    try:
        yield lock
    finally:
        await lock.release()


@dataclass(frozen=True, slots=True)
class Gate:
    """What an order is checked against besides the database: the time, the sessions, and
    the shared order-rate counter (None: the rate limit is not checked on this path)."""

    clock: Clock
    calendar: Calendar
    rate: OrderRate | None


@dataclass(frozen=True, slots=True)
class Cleared:
    """What the checks decided about an order that may be inserted."""

    expire_at: datetime | None  # a paper DAY order's: the close of its session
    waiting: str | None  # a paper MARKET order outside the session: why it waits
    ask: Decimal | None  # the symbol's ask when checked (None: no quote), a BUY's reference


def default_limits(settings: Settings) -> RiskLimits:
    """The limits of every account that has none of its own."""
    return RiskLimits(max_order_value=settings.risk_max_order_value,
                      max_position_value=settings.risk_max_position_value,
                      max_open_orders=settings.risk_max_open_orders,
                      max_orders_per_second=settings.risk_max_orders_per_second)


def limits_of(account: Mapping[Any, Any], settings: Settings) -> RiskLimits:
    """An account's limits in force: the settings' defaults, its own in their place."""
    return default_limits(settings).overridden_by(account["risk_limits"] or {})


async def clear(conn: AsyncConnection, *, user_id: uuid.UUID, account_id: uuid.UUID | None,
                req: OrderRequest, instrument: Instrument, settings: Settings, gate: Gate,
                now: datetime, lock: ExposureLock) -> Cleared:
    """Refuse the order (raise) or say how it goes in; `account_id` None is the paper one.

    `lock` is taken when a limit counts the account's exposure: hold it until the insert."""
    paper = account_id is None
    account = await risk.rules_and_quote(conn, user_id, account_id, req.symbol)
    if account is None:
        return Cleared(None, None, None)  # no paper account: the insert refuses the order
    if account["halted_at"] is not None:
        raise account_halted(str(account["id"]), account["halted_at"].isoformat())
    waiting = outside_session(
        gate.calendar, instrument.exchange, now, market=req.order_type is OrderType.MARKET,
        immediate=req.time_in_force in IMMEDIATE,
        policy=account["outside_session"]) if paper else None
    limits = limits_of(account, settings)
    await _check_limits(conn, user_id, account, req, limits, lock)
    if limits.max_orders_per_second is not None and gate.rate is not None:
        await _take_rate(gate.rate, account["id"], limits.max_orders_per_second)
    expire_at = (gate.calendar.close_of(instrument.exchange, now)
                 if paper and req.time_in_force is TimeInForce.DAY else None)
    return Cleared(expire_at, waiting, account["ask"])


async def _take_rate(rate: OrderRate, account_id: uuid.UUID, limit: int) -> None:
    try:
        wait = await rate.take(account_id, limit)
    except (RedisError, OSError) as exc:
        # A limit the account set is never skipped: without Redis it cannot be counted.
        raise Unavailable(f"the account's max_orders_per_second cannot be checked now "
                          f"({type(exc).__name__}); retry shortly",
                          details={"limit": "max_orders_per_second"}) from None
    if wait > 0:
        raise order_rate_exceeded(limit, wait)


async def _check_limits(conn: AsyncConnection, user_id: uuid.UUID, account: Mapping[Any, Any],
                        req: OrderRequest, limits: RiskLimits, lock: ExposureLock) -> None:
    touch = None
    if needs_price(limits, req) and req.order_type in (OrderType.MARKET,
                                                       OrderType.TRAILING_STOP):
        touch = account["ask"] if req.side is Side.BUY else account["bid"]
    exposure = None
    if needs_exposure(limits, req):
        await lock.take(account["id"])
        exposure = await risk.exposure(conn, user_id, account["id"], req.symbol)
    check_limits(req, limits, price=unit_price(req, touch), exposure=exposure,
                 currency=account["currency"])
