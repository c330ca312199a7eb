"""Changing a working order (PATCH /orders/{id}): the paper exchange at once, a broker later.

The new terms are the old ones with the body's fields replaced, checked like a new order's.
On paper the replace is requested and confirmed in one transaction, the order's reservation
following its new terms (more cash or shares are taken only if free, in SQL). At a real broker
the order waits in PENDING_REPLACE, on its old terms, until a worker has the broker's answer.
The order row is locked throughout: a fill either lands before the replace (which then finds
the order FILLED and is refused as too late) or after it (on the new terms).
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from dataclasses import dataclass, fields, replace
from datetime import datetime
from decimal import Decimal, localcontext
from typing import Any, Final

from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncConnection

from api.json_body import parse_body
from api.market.service import InstrumentCache
from api.orders.pretrade import limits_of
from api.orders.schemas import ReplaceOrder
from shared.brokers.catalog import (
    CAPABILITIES,
    Broker,
    Product,
    check_replaceable,
    check_supported,
    queue_for,
)
from shared.clock import clock_from
from shared.db.repositories import market, orders, reservations, risk
from shared.domain import events as ev
from shared.domain.classes import is_leg
from shared.domain.enums import OrderStatus, OrderType, Side, TimeInForce
from shared.domain.errors import (
    Conflict,
    InsufficientBuyingPower,
    InsufficientPosition,
    InvalidOrder,
    InvalidTransition,
    NotFound,
)
from shared.domain.limits import RiskLimits, check_limits, needs_price, unit_price
from shared.domain.orders import Change, Order, allows, is_terminal
from shared.domain.risk import OrderRequest, reservation, validate_order
from shared.domain.values import ARITHMETIC
from shared.messaging import tasks
from shared.messaging.enqueue import send
from shared.messaging.order_view import decimal_str
from shared.messaging.publish import forget_orders, publish_order_changes
from shared.settings import Settings

log = logging.getLogger(__name__)
_S = OrderStatus
# What identifies an order rather than its terms: changing it is a new order.
FIXED_FIELDS: Final = ("symbol", "side", "order_type", "client_order_id", "broker",
                       "account_id", "product")
_AMOUNTS: Final = ("quantity", "price", "stop_price", "trail_price", "trail_percent")
_TERMS: Final = tuple(field.name for field in fields(ev.Terms))
_WHY_NOT: Final[dict[OrderStatus, str]] = {
    _S.PENDING_NEW: "it has not reached the venue yet; try again once it is ACCEPTED",
    _S.SUBMITTED: "the venue has not acknowledged it yet; try again once it is ACCEPTED",
    _S.PENDING_CANCEL: "a cancel of it is under way",
    _S.PENDING_REPLACE: "an earlier replace is still waiting for the broker's answer",
    _S.FILLED: "it was filled before the replace arrived (too late); the fill stands",
}


@dataclass(frozen=True, slots=True)
class Replacement:
    """A saved replace: done (paper) or waiting for the broker (`at_broker`)."""

    change: Change
    at_broker: bool


def parse_replace(raw: bytes) -> ReplaceOrder:
    """Read a PATCH body with the API's strict parser; 422 naming a field that cannot change."""
    data = parse_body(raw)
    if isinstance(data, dict):
        for name in FIXED_FIELDS:
            if name in data:
                raise InvalidOrder(
                    f"{name} cannot be changed by a replace; cancel the order and place a "
                    "new one", code="field_not_replaceable", details={"field": name})
    try:
        return ReplaceOrder.model_validate(data)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from None


def new_terms(order: Order, body: ReplaceOrder) -> ev.Terms:
    """The order's terms with the body's fields replaced (and what they imply cleared)."""
    given: dict[str, Any] = {name: getattr(body, name) for name in body.model_fields_set}
    # One trail at a time, and an expiry only for GTD: naming one clears the other.
    if given.get("trail_price") is not None:
        given.setdefault("trail_percent", None)
    if given.get("trail_percent") is not None:
        given.setdefault("trail_price", None)
    if given.get("time_in_force", order.time_in_force) is not TimeInForce.GTD:
        given.setdefault("expire_at", None)
    return replace(order.terms, **given)


async def replace_order(conn: AsyncConnection, *, user_id: uuid.UUID, order_id: uuid.UUID,
                        body: ReplaceOrder, instruments: InstrumentCache,
                        settings: Settings) -> Replacement:
    """Replace a working order's terms (paper) or ask its broker to (PENDING_REPLACE)."""
    order = await orders.get_for_user(conn, user_id, order_id, for_update=True)
    if order is None:
        raise NotFound(f"order {order_id} not found", details={"field": "order_id"})
    _require_modify(order)
    terms = new_terms(order, body)
    _keep_the_pair(order, terms)
    requested = _request(order, terms)
    await _validate(order, terms, instruments, clock_from(settings).now())
    await _check_limits(conn, order, terms, settings)
    actor = f"user:{user_id}"
    if not order.is_paper:
        saved = await orders.save(conn, requested, actor=actor,
                                  dispatch=orders.Dispatch(settings.dispatch_grace_seconds))
        return Replacement(saved, at_broker=True)
    replaced = await _replace_on_paper(conn, requested, settings, _blamed(body))
    return Replacement(await orders.save(conn, replaced, actor=actor), at_broker=False)


def _require_modify(order: Order) -> None:
    broker = Broker(order.broker)
    if not CAPABILITIES[broker].modify:
        raise InvalidOrder(f"{broker.value} cannot change a working order; cancel it and "
                           "place a new one", code="unsupported_by_broker",
                           details={"field": "order_id", "broker": broker.value})
    if not allows(order.status, ev.ReplaceRequested(order.terms)):
        raise _not_replaceable(order)


def _keep_the_pair(order: Order, terms: ev.Terms) -> None:
    """A leg's quantity and validity are its pair's (one quantity shared, and on paper one
    reservation of shares): only its prices may change."""
    if not is_leg(order):
        return
    for name in ("quantity", "time_in_force", "expire_at"):
        if getattr(terms, name) != getattr(order, name):
            raise InvalidOrder(
                f"{name} of a leg of a {order.order_class.value} order follows its pair and "
                "cannot be replaced; change its price, or cancel the pair",
                code="field_not_replaceable", details={"field": name})


def _not_replaceable(order: Order) -> Conflict:
    why = _WHY_NOT.get(order.status, "it is final")
    return Conflict(f"order is {order.status.value} and can no longer be replaced: {why}",
                    code="order_not_replaceable",
                    details={"field": "status", "status": order.status.value})


def _request(order: Order, terms: ev.Terms) -> Change:
    try:
        return Change(order).then(ev.ReplaceRequested(terms))
    except InvalidTransition:
        raise _not_replaceable(order) from None


async def _validate(order: Order, terms: ev.Terms, instruments: InstrumentCache,
                    now: datetime) -> None:
    instrument = await instruments.get(order.symbol)
    validate_order(_as_request(order, terms), instrument, now)
    assert instrument is not None  # validate_order refuses an unknown symbol
    broker = Broker(order.broker)
    check_supported(broker, order_type=order.order_type, time_in_force=terms.time_in_force,
                    product=Product(order.product) if order.product else None,
                    exchange=instrument.exchange,
                    fractional_quantity=terms.quantity != terms.quantity.to_integral_value())
    # What a broker's modify can carry: never the time in force (only the paper exchange's
    # replace changes it); a trail or an expiry only at a broker that re-sends those.
    check_replaceable(broker, (name for name in _TERMS
                               if getattr(terms, name) != getattr(order.terms, name)))


async def _check_limits(conn: AsyncConnection, order: Order, terms: ev.Terms,
                        settings: Settings) -> None:
    """The account's value limits hold for the new terms as for a new order (a replace adds
    no order: the open-order count and the order rate do not apply)."""
    account = await risk.rules_for(conn, order.user_id, order.account_id)
    assert account is not None, "an order's account exists"
    limits = limits_of(account, settings)
    req = _as_request(order, terms)
    if not needs_price(limits, req):
        return
    touch = None
    if order.order_type in (OrderType.MARKET, OrderType.TRAILING_STOP):
        quote = await market.get_quote(conn, order.symbol)
        touch = None if quote is None else quote["ask" if order.side is Side.BUY else "bid"]
    price, currency = unit_price(req, touch), account["currency"]
    check_limits(req, RiskLimits(max_order_value=limits.max_order_value), price=price,
                 exposure=None, currency=currency)
    if limits.max_position_value is None or order.side is not Side.BUY:
        return
    held = await risk.exposure(conn, order.user_id, order.account_id, order.symbol)
    with localcontext(ARITHMETIC):  # the working buys counted this order's old unfilled part
        others = replace(held, open_buy_quantity=held.open_buy_quantity - order.leaves)
        leaves = terms.quantity - order.filled_quantity
    check_limits(replace(req, quantity=leaves),
                 RiskLimits(max_position_value=limits.max_position_value), price=price,
                 exposure=others, currency=currency)


def _as_request(order: Order, terms: ev.Terms, quantity: Decimal | None = None) -> OrderRequest:
    return OrderRequest(symbol=order.symbol, side=order.side, order_type=order.order_type,
                        quantity=terms.quantity if quantity is None else quantity,
                        price=terms.price, stop_price=terms.stop_price,
                        time_in_force=terms.time_in_force, trail_price=terms.trail_price,
                        trail_percent=terms.trail_percent, expire_at=terms.expire_at)


def _blamed(body: ReplaceOrder) -> str:
    """The field a refused reservation names: the first amount the body changed."""
    return next((name for name in _AMOUNTS if name in body.model_fields_set), "quantity")


async def _replace_on_paper(conn: AsyncConnection, requested: Change, settings: Settings,
                            field: str) -> Change:
    """Confirm the replace at once, the reservation following the new terms."""
    order = requested.before
    terms = requested.after.pending_terms
    assert terms is not None, "a requested replace carries its terms"
    cash = await _cash_to_hold(conn, order, terms, settings)
    replaced = requested.then(ev.Replaced(reserved_cash=cash))
    await _take_more(conn, order, replaced.after, field)
    await orders.release_reservation(conn, order, replaced.after)
    return replaced


async def _cash_to_hold(conn: AsyncConnection, order: Order, terms: ev.Terms,
                        settings: Settings) -> Decimal:
    """What a BUY reserves for its unfilled quantity on the new terms (nothing for a SELL)."""
    with localcontext(ARITHMETIC):
        leaves = terms.quantity - order.filled_quantity
    if order.side is Side.SELL or leaves <= 0:
        return Decimal(0)
    reference = None
    if order.order_type in (OrderType.MARKET, OrderType.TRAILING_STOP):
        reference = await market.get_ask(conn, order.symbol)
    # As at placement: the most the unfilled part can pay in fees is held too (its per-order
    # part and minimum counted again: a little more than needed, never less).
    return reservation(_as_request(order, terms, leaves), reference,
                       settings.market_order_cushion, settings.paper_fees)


async def _take_more(conn: AsyncConnection, order: Order, after: Order, field: str) -> None:
    """Take what the new terms hold beyond the old, if free; else refuse, changing nothing."""
    with localcontext(ARITHMETIC):
        cash = after.reserved_cash - order.reserved_cash
        shares = after.reserved_quantity - order.reserved_quantity
    if cash > 0 and not await reservations.take_cash(conn, order.account_id, cash):
        free = await reservations.free_cash(conn, order.account_id)
        raise InsufficientBuyingPower(
            f"insufficient buying power: the new terms need {decimal_str(cash)} more than the "
            f"order holds, available is {decimal_str(free)}",
            details={"field": field, "required": decimal_str(cash),
                     "available": decimal_str(free)})
    if shares > 0 and not await reservations.take_shares(conn, order.account_id, order.symbol,
                                                         shares):
        free = await reservations.free_shares(conn, order.account_id, order.symbol)
        raise InsufficientPosition(
            f"insufficient position: the new terms sell {decimal_str(shares)} more, "
            f"available is {decimal_str(free)}",
            details={"field": "quantity", "required": decimal_str(shares),
                     "available": decimal_str(free)})


async def announce(redis: Redis, done: Replacement, settings: Settings) -> None:
    """After commit: publish the change and ring the doorbell of whoever acts on it next."""
    order = done.change.after
    try:
        await publish_order_changes(redis, [done.change], settings.order_cache_ttl_seconds)
        if done.at_broker:
            await send(redis, tasks.BROKER_MODIFY, [str(order.id)],
                       queue_for(Broker(order.broker)))
        elif not is_terminal(order.status):
            # New terms may make the order marketable now, not only at the next quote.
            await send(redis, tasks.PAPER_MATCH, [[order.symbol]], tasks.ORDERS_QUEUE)
    except Exception as exc:  # noqa: BLE001 - best effort: the sweeper / next quote catch up
        log.warning("could not publish the replace of %s now; the sweeper or the next quote "
                    "will act on it: %s", order.id, exc)
        with contextlib.suppress(Exception):
            await forget_orders(redis, [done.change])
