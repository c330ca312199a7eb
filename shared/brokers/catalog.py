"""The brokers ordergate routes to and what each can do (pure: the API checks orders with it)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Final

from shared.domain.enums import OrderType, TimeInForce
from shared.domain.errors import InvalidOrder


class Broker(StrEnum):
    PAPER = "paper"
    IBKR = "ibkr"
    ZERODHA = "zerodha"
    UPSTOX = "upstox"
    GROWW = "groww"
    ANGELONE = "angelone"


class Product(StrEnum):
    """Indian margin products: delivery, intraday, carry-forward (F&O)."""

    CNC = "CNC"
    MIS = "MIS"
    NRML = "NRML"


@dataclass(frozen=True, slots=True)
class RateLimit:
    """Outbound request budget per (broker, account), as the broker publishes it."""

    per_second: int
    per_minute: int


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a broker accepts; the API refuses anything else with a 422 before queueing."""

    order_types: frozenset[OrderType]
    time_in_force: frozenset[TimeInForce]
    products: frozenset[Product]
    default_product: Product | None
    exchanges: frozenset[str]
    currency: str
    fractional: bool
    modify: bool
    rate_limit: RateLimit
    # The terms (shared.domain.events.Terms field names) a modify of a working order changes.
    replaceable: frozenset[str]


_ALL_TYPES = frozenset(OrderType)
# The Indian brokers offer neither trailing stops nor GTD; IB takes both natively (TRAIL, GTD).
_INDIA_TYPES = _ALL_TYPES - {OrderType.TRAILING_STOP}
_PRICE_TERMS = frozenset({"quantity", "price", "stop_price"})
# IB re-sends a changed order under its own orderId, trail and goodTillDate included; no
# broker's modify changes the time in force (only the paper exchange's replace does).
_IB_TERMS = _PRICE_TERMS | {"trail_price", "trail_percent", "expire_at"}
_ALL_TERMS = _IB_TERMS | {"time_in_force"}
_INDIA = frozenset({"NSE", "BSE"})
_US = frozenset({"NASDAQ", "NYSE", "NYSEARCA"})
_INDIA_PRODUCTS = frozenset(Product)


def _indian(rate_limit: RateLimit, products: frozenset[Product] = _INDIA_PRODUCTS) -> Capabilities:
    return Capabilities(
        order_types=_INDIA_TYPES, time_in_force=frozenset({TimeInForce.DAY, TimeInForce.IOC}),
        products=products, default_product=Product.CNC, exchanges=_INDIA, currency="INR",
        fractional=False, modify=True, rate_limit=rate_limit, replaceable=_PRICE_TERMS)


CAPABILITIES: Final[Mapping[Broker, Capabilities]] = MappingProxyType({
    Broker.PAPER: Capabilities(
        order_types=_ALL_TYPES, time_in_force=frozenset(TimeInForce), products=frozenset(),
        default_product=None, exchanges=_US, currency="USD", fractional=True, modify=True,
        rate_limit=RateLimit(per_second=1000, per_minute=60000), replaceable=_ALL_TERMS),
    # IB paces API messages at 50/s per client; orders stay well below it.
    Broker.IBKR: Capabilities(
        order_types=_ALL_TYPES, time_in_force=frozenset(TimeInForce), products=frozenset(),
        default_product=None, exchanges=_US, currency="USD", fractional=False, modify=True,
        rate_limit=RateLimit(per_second=40, per_minute=2400), replaceable=_IB_TERMS),
    # kite.trade: orders 10/s and 200/min per user.
    Broker.ZERODHA: _indian(RateLimit(per_second=10, per_minute=200)),
    # upstox: order APIs 10/s, 500/min per user (NRML is for F&O, not offered for equities).
    Broker.UPSTOX: _indian(RateLimit(per_second=10, per_minute=500),
                           frozenset({Product.CNC, Product.MIS})),
    # Groww and Angel One publish no figures we could verify: conservative budgets.
    Broker.GROWW: _indian(RateLimit(per_second=10, per_minute=250)),
    Broker.ANGELONE: _indian(RateLimit(per_second=10, per_minute=250)),
})

REAL_BROKERS: Final = frozenset(Broker) - {Broker.PAPER}
# The exchanges whose trading days are accounts' days (session_exchange).
SESSION_EXCHANGES: Final = ("NSE", "NYSE")


def session_exchange(broker: Broker | str) -> str:
    """The exchange whose trading days are an account's days (its P&L snapshots): NSE for
    the Indian brokers (BSE keeps the same hours), NYSE for the US ones and the paper
    exchange."""
    return "NSE" if CAPABILITIES[Broker(broker)].currency == "INR" else "NYSE"


def order_tag(broker: Broker, order_id: uuid.UUID) -> str:
    """Our id as the broker's tag/reference field allows it, fixed for the order's life.

    Kite tags and Groww references take at most 20 alphanumerics, so they get "og" and 18 hex
    digits of the id (72 bits); IB's free-text orderRef takes the whole id.
    """
    if broker is Broker.IBKR:
        return str(order_id)
    return "og" + order_id.hex[:18]


def queue_for(broker: Broker) -> str:
    """The Celery queue of a broker's work, so one broker's outage never delays another's."""
    return "orders" if broker is Broker.PAPER else f"broker.{broker.value}"


def parse_broker(value: str) -> Broker:
    """Return the broker named `value`, or raise InvalidOrder naming the known ones."""
    try:
        return Broker(value.strip().lower())
    except ValueError:
        known = ", ".join(b.value for b in Broker)
        raise InvalidOrder(f"unknown broker {value!r}; known brokers: {known}",
                           code="unknown_broker", details={"field": "broker", "value": value},
                           ) from None


def check_supported(broker: Broker, *, order_type: OrderType, time_in_force: TimeInForce,
                    product: Product | None, exchange: str, fractional_quantity: bool) -> None:
    """Raise InvalidOrder (naming the field) for anything `broker` cannot carry out."""
    caps = CAPABILITIES[broker]
    checks: list[tuple[bool, str, str, str]] = [
        (order_type in caps.order_types, "order_type", order_type.value, "order type"),
        (time_in_force in caps.time_in_force, "time_in_force", time_in_force.value,
         "time in force"),
        (exchange in caps.exchanges, "symbol", exchange, "exchange"),
        (product is None or product in caps.products, "product",
         product.value if product else "", "product"),
        (caps.fractional or not fractional_quantity, "quantity", "fractional",
         "quantity (whole shares only)"),
    ]
    for ok, field, value, what in checks:
        if not ok:
            raise InvalidOrder(f"{broker.value} does not support {what} {value}",
                               code="unsupported_by_broker",
                               details={"field": field, "value": value, "broker": broker.value})


_TERM_NAMES: Final[Mapping[str, str]] = MappingProxyType({
    "quantity": "quantity", "price": "price", "stop_price": "stop price",
    "trail_price": "trail amount", "trail_percent": "trail percentage",
    "time_in_force": "time in force", "expire_at": "expiry"})


def check_replaceable(broker: Broker, changed: Iterable[str]) -> None:
    """Raise InvalidOrder naming the first term in `changed` that `broker` cannot modify."""
    refused = sorted(set(changed) - CAPABILITIES[broker].replaceable)
    if refused:
        field = refused[0]
        raise InvalidOrder(f"{broker.value} cannot change an order's "
                           f"{_TERM_NAMES.get(field, field)}; cancel it and place a new one",
                           code="unsupported_by_broker",
                           details={"field": field, "broker": broker.value})
