"""Interactive Brokers' vocabulary in ordergate's terms (pure: no ib_async import, no I/O).

Sources: ib_async 2.1.0 `order.py` (OrderStatus strings and state sets), `wrapper.py` (which
error codes it treats as warnings), TWS API reference for `Execution.execId` ("a correction is
indicated by an ExecId which differs from a previous ExecId in only the digits after the final
period") and for bound orders ("only the submitting client will be able to modify the placed
order"); TWS API "Orders" for date/time fields (goodTillDate) and `Order.trailingPercent`
("mutually exclusive with the existing trailing amount", auxPrice); `orderStatus` for the
statuses TWS sends (there is no "expired" one).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from shared.brokers.catalog import Broker
from shared.brokers.payload import loads
from shared.brokers.types import WebhookTrigger, canonical_status
from shared.domain.enums import OrderStatus, OrderType

BROKER: Final = Broker.IBKR
_S = OrderStatus

STATUS_MAP: Final[Mapping[str, OrderStatus]] = MappingProxyType({
    "PendingSubmit": _S.SUBMITTED,
    "ApiPending": _S.SUBMITTED,
    # Our lifecycle has no "trigger pending": a held stop is simply an accepted order.
    "PreSubmitted": _S.ACCEPTED,
    "Submitted": _S.ACCEPTED,
    # A modification in flight: the order keeps working at its old terms meanwhile.
    "ApiUpdate": _S.ACCEPTED,
    # ib_async's name for an order that drew a TWS warning; IB keeps the order live.
    "ValidationError": _S.ACCEPTED,
    "PendingCancel": _S.PENDING_CANCEL,
    "ApiCancelled": _S.CANCELED,
    "Cancelled": _S.CANCELED,
    "Filled": _S.FILLED,
    # IB: "the order was received but is no longer active because it was rejected or
    # canceled"; the error event that comes with it carries the reason.
    "Inactive": _S.REJECTED,
})
# ib_async's LimitOrder/StopOrder/... set these; TRAILING_STOP is IB's TRAIL.
ORDER_TYPES: Final[Mapping[OrderType, str]] = MappingProxyType({
    OrderType.MARKET: "MKT", OrderType.LIMIT: "LMT", OrderType.STOP: "STP",
    OrderType.STOP_LIMIT: "STP LMT", OrderType.TRAILING_STOP: "TRAIL"})
# What TWS reports when an order's balance is canceled, for any reason: by us, by IB, or at
# the end of its time in force.
CANCELED: Final = frozenset({"Cancelled", "ApiCancelled"})
# Sent, not yet acknowledged by TWS (no permId yet).
AWAITING_ACK: Final = frozenset({"PendingSubmit", "ApiPending"})
# ib_async's DoneStates: nothing will happen to the order any more.
DONE: Final = frozenset({"Filled", "Cancelled", "ApiCancelled", "Inactive"})

DUPLICATE_ORDER_ID: Final = 103
ORDER_CANCELED: Final = 202  # TWS's confirmation of a cancel, sent as an "error"
# What ib_async's Wrapper.error treats as warnings (the order stays live).
_WARNINGS: Final = frozenset({105, 110, 165, 321, 329, 399, 404, 434, 492, 10167})

# IB's "no value" double (Double.MAX_VALUE), as ib_async leaves it in unset fields.
UNSET_DOUBLE: Final = sys.float_info.max

# Our exchange names -> IB's primaryExchange (IB calls NYSE Arca "ARCA").
_PRIMARY: Final[Mapping[str, str]] = MappingProxyType(
    {"NASDAQ": "NASDAQ", "NYSE": "NYSE", "NYSEARCA": "ARCA"})
_OURS: Final[Mapping[str, str]] = MappingProxyType(
    {"ARCA": "NYSEARCA", "ISLAND": "NASDAQ"})


def is_warning(code: int) -> bool:
    """True if TWS error `code` is a warning (the order it names is still live)."""
    return code in _WARNINGS or 2100 <= code < 2200


def order_status(raw: str, quantity: Decimal, filled: Decimal,
                 error_code: int | None = None, *, expired: bool = False) -> OrderStatus:
    """Our status from IB's status string, the quantities and the order's last error code.

    TWS has no "expired" status: a GTD order that reaches its goodTillDate is reported
    "Cancelled" like any other, so the caller says whether the cancel came at or after the
    order's expiry (`expired`), which makes it EXPIRED. ib_async reports any order error as
    "Cancelled"; with no fill and an error other than the cancel confirmation (202), the order
    never worked: it was rejected. A status this table does not know yet is treated as still
    pending (SUBMITTED), so nothing final is concluded from it and reconciliation keeps
    looking.
    """
    mapped = STATUS_MAP.get(raw, _S.SUBMITTED)
    if mapped is _S.CANCELED and expired:
        return _S.EXPIRED
    refused = error_code is not None and error_code != ORDER_CANCELED
    if mapped is _S.CANCELED and refused and filled == 0:
        return _S.REJECTED
    return canonical_status(mapped, quantity, filled)


def to_decimal(value: float | int | Decimal | str | None) -> Decimal | None:
    """An IB number as a Decimal; None for IB's unset markers and empty fields.

    TWS sends numbers as decimal text and ib_async parses them into floats; `repr` of such a
    float is the shortest text that reads back to it, i.e. the text TWS sent (up to 15
    significant digits), so no binary noise enters our Decimals.
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, float):
        if value == UNSET_DOUBLE or not math.isfinite(value):
            return None
        return Decimal(int(value)) if value.is_integer() else Decimal(repr(value))
    if isinstance(value, str):
        if not value.strip():
            return None
        try:
            parsed = Decimal(value.strip())
        except InvalidOperation:
            raise ValueError(f"IB sent {value!r} where a number belongs") from None
        return parsed if parsed.is_finite() else None
    return Decimal(value)


def good_till_date(expire_at: datetime) -> str:
    """IB's goodTillDate for an aware datetime: "YYYYMMDD HH:MM:SS UTC", to the second.

    The time zone travels with the value (TWS otherwise reads the time in the zone of the
    machine it runs on); it is the form ib_async's `util.formatIBDatetime` sends. IB's time is
    whole seconds: a fraction is cut, so the order never outlives the expiry asked for.
    """
    if expire_at.tzinfo is None or expire_at.utcoffset() is None:
        raise ValueError(f"an IB goodTillDate needs an aware datetime, was {expire_at!r}")
    return expire_at.astimezone(UTC).strftime("%Y%m%d %H:%M:%S UTC")


def parse_good_till_date(text: str) -> datetime | None:
    """The instant of a goodTillDate as TWS reports it, or None when it names no instant.

    Reads "YYYYMMDD HH:MM:SS <zone>" (ours, or TWS's with a zone such as US/Eastern) and
    "YYYYMMDD-HH:MM:SS" (UTC). A bare date or a time without a zone depends on settings of
    the TWS session that we cannot see, so it gives None.
    """
    value = text.strip()
    try:
        if "-" in value and " " not in value:
            return datetime.strptime(value, "%Y%m%d-%H:%M:%S").replace(tzinfo=UTC)
        day, clock, zone = value.split(" ", 2)
        parsed = datetime.strptime(f"{day} {clock}", "%Y%m%d %H:%M:%S")
        return parsed.replace(tzinfo=UTC if zone.strip() in ("UTC", "GMT")
                              else ZoneInfo(zone.strip()))
    except (ValueError, ZoneInfoNotFoundError):
        return None


def primary_exchange(exchange: str) -> str:
    """IB's primaryExchange for one of our US exchange names (NYSEARCA -> ARCA)."""
    try:
        return _PRIMARY[exchange.upper()]
    except KeyError:
        known = ", ".join(_PRIMARY)
        raise ValueError(f"IBKR orders support the exchanges {known}, not {exchange!r}") from None


def exchange_name(ib_exchange: str) -> str:
    """Our exchange name for IB's (ARCA -> NYSEARCA); other names pass through."""
    return _OURS.get(ib_exchange.upper(), ib_exchange.upper())


def execution_key(exec_id: str) -> str:
    """The id of an execution across its corrections: execId without its version suffix.

    "0000e0d5.6553a6b1.01.01" and its correction "0000e0d5.6553a6b1.01.02" are one execution.
    Reporting both under this key lets the fills ledger (unique by exec id) take a correction
    that arrives after its original as the same fill, never as a second one.
    """
    base, dot, version = exec_id.rpartition(".")
    return base if dot and base and version.isdigit() else exec_id


def _version(exec_id: str) -> int:
    _, dot, version = exec_id.rpartition(".")
    return int(version) if dot and version.isdigit() else 0


def latest_executions(exec_ids: Iterable[str]) -> frozenset[str]:
    """The execIds that are the latest version of their execution (corrections replace)."""
    latest: dict[str, str] = {}
    for exec_id in exec_ids:
        key = execution_key(exec_id)
        current = latest.get(key)
        if current is None or _version(exec_id) > _version(current):
            latest[key] = exec_id
    return frozenset(latest.values())


def parse_webhook(body: bytes) -> WebhookTrigger:
    """The trigger in a relay's JSON: {"perm_id" | "order_id", "order_ref", "status", "account"}.

    IB itself sends no webhooks; a relay watching TWS may POST, signed with the generic scheme.
    "perm_id" is ordergate's broker order id for IB (the account-wide permId); "order_id" is
    accepted as a synonym when "perm_id" is absent. "order_ref" is ordergate's order id.
    """
    data = loads(body)
    if not isinstance(data, dict):
        raise ValueError("an IBKR relay webhook must be a JSON object")
    order_id = _order_id(data.get("perm_id"))
    if order_id is None:
        order_id = _order_id(data.get("order_id"))
    order_ref = _text(data.get("order_ref"), "order_ref")
    if order_id is None and order_ref is None:
        raise ValueError("an IBKR relay webhook must name perm_id, order_id or order_ref")
    return WebhookTrigger(broker_order_id=order_id, tag=order_ref,
                          broker_user_id=_text(data.get("account"), "account"),
                          raw_status=_text(data.get("status"), "status"))


def _order_id(value: object) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return str(value)
    if isinstance(value, str) and value.strip().isdigit():
        return value.strip()
    raise ValueError(f"an IB order id is a positive whole number, was {value!r}")


def _text(value: object, field: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError(f"{field} must be a string, was {value!r}")
    return value
