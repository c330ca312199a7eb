"""What can happen to an order: small frozen values, applied by `shared.domain.orders.apply`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from shared.domain.enums import TimeInForce


@dataclass(frozen=True, slots=True)
class Submitted:
    """The paper exchange took the order; its id there is derived from ours."""

    broker_order_id: str


@dataclass(frozen=True, slots=True)
class PlacementStarted:
    """A worker claimed the order to place it at a real broker (first try or a retry)."""


@dataclass(frozen=True, slots=True)
class Placed:
    """The broker has the order under `broker_order_id` (its answer, or found by our tag)."""

    broker_order_id: str


@dataclass(frozen=True, slots=True)
class PlacementNotSent:
    """The broker certainly never received the order: it may be placed again, same tag."""

    detail: str


@dataclass(frozen=True, slots=True)
class Accepted:
    """The venue acknowledged the order; it is working."""

    detail: str | None = None


@dataclass(frozen=True, slots=True)
class Rejected:
    """The venue (or we, before sending it) refused the order."""

    reason: str


@dataclass(frozen=True, slots=True)
class Filled:
    """One execution; `trade_id` (the broker's execution id) makes a repeat harmless."""

    trade_id: str
    quantity: Decimal
    price: Decimal
    at: datetime
    commission: Decimal = Decimal(0)


@dataclass(frozen=True, slots=True)
class CancelRequested:
    """Someone asked to cancel a working order; the venue has not answered yet."""


@dataclass(frozen=True, slots=True)
class Canceled:
    """The order is canceled; what was unfilled is released."""

    reason: str | None = None


@dataclass(frozen=True, slots=True)
class CancelRejected:
    """The venue refused the cancel: the order goes back to what it was."""

    reason: str


@dataclass(frozen=True, slots=True)
class Expired:
    """The order's time in force ran out."""

    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Triggered:
    """A stop was hit at `price`: the order now works as a MARKET (STOP, TRAILING_STOP) or a
    LIMIT (STOP_LIMIT) order."""

    price: Decimal


@dataclass(frozen=True, slots=True)
class WaterMarkMoved:
    """A trailing stop's water mark followed the market (the highest bid for a SELL, the
    lowest ask for a BUY); a mark the order has already passed changes nothing."""

    hwm: Decimal


@dataclass(frozen=True, slots=True)
class Terms:
    """The terms of an order a replace may change; a replace names all of them."""

    quantity: Decimal
    price: Decimal | None
    stop_price: Decimal | None
    trail_price: Decimal | None
    trail_percent: Decimal | None
    time_in_force: TimeInForce
    expire_at: datetime | None


@dataclass(frozen=True, slots=True)
class ReplaceRequested:
    """Someone asked to change a working order's terms; until the venue confirms it, the
    order keeps working on its old terms."""

    terms: Terms


@dataclass(frozen=True, slots=True)
class Replaced:
    """The venue confirmed the replace: the order works on its new terms. `reserved_cash` is
    what a BUY on the paper exchange now holds of the account's cash (None: unchanged)."""

    reserved_cash: Decimal | None = None


@dataclass(frozen=True, slots=True)
class ReplaceRejected:
    """The venue refused the replace (or it came too late): the old terms stand."""

    reason: str


@dataclass(frozen=True, slots=True)
class BrokerStatusNoted:
    """The broker's own status word for the order, kept verbatim beside ours."""

    raw_status: str


@dataclass(frozen=True, slots=True)
class Waiting:
    """Why the order is waiting (a broker down, a rate limit, a lookup in progress)."""

    detail: str


OrderEvent = (
    Submitted | PlacementStarted | Placed | PlacementNotSent | Accepted | Rejected | Filled
    | CancelRequested | Canceled | CancelRejected | Expired | Triggered | WaterMarkMoved
    | ReplaceRequested | Replaced | ReplaceRejected | BrokerStatusNoted | Waiting
)
