"""What can happen to an order: small frozen values, applied by `shared.domain.orders.apply`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal


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
class BrokerStatusNoted:
    """The broker's own status word for the order, kept verbatim beside ours."""

    raw_status: str


@dataclass(frozen=True, slots=True)
class Waiting:
    """Why the order is waiting (a broker down, a rate limit, a lookup in progress)."""

    detail: str


OrderEvent = (
    Submitted | PlacementStarted | Placed | PlacementNotSent | Accepted | Rejected | Filled
    | CancelRequested | Canceled | CancelRejected | Expired | BrokerStatusNoted | Waiting
)
