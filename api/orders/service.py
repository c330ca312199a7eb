"""Order use cases: place, cancel, read. Services never commit; the router owns transactions."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import RowMapping, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from api.errors import header_field
from api.market.service import InstrumentCache
from api.orders import pretrade
from api.orders.rate import OrderRate
from api.orders.schemas import PlaceOrder
from api.portfolio import books
from shared.brokers.catalog import (
    CAPABILITIES,
    Broker,
    Product,
    check_supported,
    order_tag,
    parse_broker,
)
from shared.clock import Clock, calendar_from, clock_from
from shared.db.repositories import accounts, halts, orders
from shared.domain import events as ev
from shared.domain.classes import (
    Exits,
    StopLoss,
    TakeProfit,
    check_class,
    exit_time_in_force,
    exit_types,
)
from shared.domain.enums import OrderClass, OrderStatus, OrderType, Side
from shared.domain.errors import Conflict, DomainError, InvalidOrder, NotFound, StaleOrder
from shared.domain.limits import account_halted
from shared.domain.orders import Change, is_terminal
from shared.domain.risk import (
    Instrument,
    OrderRequest,
    check_buying_power,
    check_free_position,
    reservation,
    validate_order,
)
from shared.domain.sessions import Calendar
from shared.messaging.order_view import decimal_str
from shared.settings import Settings

log = logging.getLogger(__name__)
DEADLOCK_DETECTED = "40P01"
INSERT_ATTEMPTS = 3


@dataclass(frozen=True)
class Route:
    """Where an order goes: the broker, the connection's account (None: paper) and product."""

    broker: Broker
    account_id: uuid.UUID | None
    product: Product | None


# Left out of a simple order's fingerprint, so a retry sent before they existed still matches.
_CLASS_FIELDS = {"order_class", "take_profit", "stop_loss"}


def _unset(body: PlaceOrder) -> set[str]:
    """Fields left out of the fingerprint: those of a simple order's class, and a portfolio
    not named (a retry sent before either existed still matches)."""
    simple = (body.order_class is OrderClass.SIMPLE and body.take_profit is None
              and body.stop_loss is None)
    return (_CLASS_FIELDS if simple else set()) | (
        {"portfolio_id"} if body.portfolio_id is None else set())


def request_hash(body: PlaceOrder) -> str:
    """Fingerprint a request body, so an Idempotency-Key reused with other content is caught."""
    canonical = json.dumps(body.model_dump(mode="json", exclude=_unset(body)),
                           sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _to_request(body: PlaceOrder) -> OrderRequest:
    return OrderRequest(symbol=body.symbol, side=body.side, order_type=body.order_type,
                        quantity=body.quantity, price=body.price, stop_price=body.stop_price,
                        time_in_force=body.time_in_force, trail_price=body.trail_price,
                        trail_percent=body.trail_percent, expire_at=body.expire_at)


async def _route(conn: AsyncConnection, user_id: uuid.UUID, body: PlaceOrder) -> Route:
    """Resolve the account an order goes to; 422 or 409 (naming the field) when it can't."""
    if body.account_id is None and body.broker in (None, Broker.PAPER.value):
        return Route(Broker.PAPER, None, body.product)
    broker = parse_broker(body.broker) if body.broker is not None else None
    rows = await accounts.routes_for_user(
        conn, user_id, account_id=body.account_id, broker=broker.value if broker else None)
    if body.account_id is not None and not rows:
        raise InvalidOrder(f"account {body.account_id} is not one of your accounts",
                           details={"field": "account_id", "value": str(body.account_id)})
    if not rows:
        assert broker is not None
        raise InvalidOrder(
            f"broker {broker.value} is not connected; connect it with POST "
            f"/api/v1/brokers/{broker.value}/connections, or use paper",
            code="broker_not_connected", details={"field": "broker", "value": broker.value})
    if len(rows) > 1:
        raise InvalidOrder(f"you have {len(rows)} {rows[0]['broker']} connections; "
                           "name one with account_id", details={"field": "account_id"})
    account = rows[0]
    _require_usable(account)
    routed = Broker(account["broker"])
    if routed is Broker.PAPER:
        return Route(routed, None, body.product)
    return Route(routed, account["id"], body.product or CAPABILITIES[routed].default_product)


def _require_usable(account: Mapping[Any, Any]) -> None:
    expires = account["token_expires_at"]
    if account["status"] == "expired" or (expires is not None and expires <= datetime.now(UTC)):
        raise Conflict(
            f"the {account['broker']} session of account {account['id']} has expired; log in "
            f"again with POST /api/v1/brokers/{account['broker']}/connections/{account['id']}"
            "/refresh", code="connection_expired",
            details={"field": "account_id", "value": str(account["id"])})


async def _validate(body: PlaceOrder, route: Route, instruments: InstrumentCache,
                    now: datetime) -> Instrument:
    instrument = await instruments.get(body.symbol)
    validate_order(_to_request(body), instrument, now)
    assert instrument is not None
    check_supported(route.broker, order_type=body.order_type, time_in_force=body.time_in_force,
                    product=route.product, exchange=instrument.exchange,
                    fractional_quantity=body.quantity != body.quantity.to_integral_value())
    _check_class(body, route, instrument)
    return instrument


def exits_of(body: PlaceOrder) -> Exits:
    """The request's exits as the domain's terms."""
    tp, sl = body.take_profit, body.stop_loss
    return Exits(take_profit=TakeProfit(tp.limit_price) if tp else None,
                 stop_loss=StopLoss(sl.stop_price, sl.limit_price) if sl else None)


def _check_class(body: PlaceOrder, route: Route, instrument: Instrument) -> None:
    exits = exits_of(body)
    check_class(body.order_class, _to_request(body), exits, instrument)
    if body.order_class is OrderClass.SIMPLE or route.broker is Broker.PAPER:
        return
    # At a broker ordergate places the exits itself, and resizes them with modify as fills
    # come: the broker must carry each exit as a plain order, and modify it.
    broker, caps, kind = route.broker.value, CAPABILITIES[route.broker], body.order_class.value
    validity = exit_time_in_force(body.time_in_force)
    refusals = [(f"{broker} cannot modify an order, which keeps a {kind} order's exits the "
                 "size of the shares they cover", "order_class", kind, not caps.modify)]
    refusals += [(f"{broker} does not support order type {order_type.value}, which {name} "
                  "is placed as", name, order_type.value, order_type not in caps.order_types)
                 for name, order_type in exit_types(exits)]
    refusals.append((f"the exits of a {body.time_in_force.value} {kind} order are "
                     f"{validity.value} orders, and {broker} does not support time in force "
                     f"{validity.value}; place it with a time in force the exits can keep, "
                     "such as DAY",
                     "time_in_force", body.time_in_force.value,
                     validity not in caps.time_in_force))
    for message, field, value, refused in refusals:
        if refused:
            raise InvalidOrder(message, code="unsupported_order_class",
                               details={"field": field, "value": value, "broker": broker})


async def place_order(conn: AsyncConnection, *, user_id: uuid.UUID, body: PlaceOrder,
                      idempotency_key: str | None, instruments: InstrumentCache,
                      settings: Settings, clock: Clock | None = None,
                      calendar: Calendar | None = None,
                      rate: OrderRate | None = None) -> tuple[Mapping[Any, Any], bool]:
    """Validate, check, reserve and persist a new order; returns (order row, replayed?).

    `clock` and `calendar` default to the settings'; without `rate` the account's
    max_orders_per_second is not checked. `conn` must be in autocommit mode: the insert is
    one atomic statement.
    """
    gate = pretrade.Gate(clock or clock_from(settings), calendar or calendar_from(settings), rate)
    now = gate.clock.now()
    route = await _route(conn, user_id, body)
    await books.owned_id(conn, user_id, body.portfolio_id)
    instrument = await _validate(body, route, instruments, now)
    fingerprint = request_hash(body) if idempotency_key else None
    async with pretrade.exposure_lock(conn) as lock:
        try:
            cleared = await pretrade.clear(conn, user_id=user_id, account_id=route.account_id,
                                           req=_to_request(body), instrument=instrument,
                                           settings=settings, gate=gate, now=now, lock=lock)
        except DomainError:
            # A retry of an order accepted before the account was halted, the market closed
            # or a limit was lowered is still that order.
            if idempotency_key and (earlier := await _earlier(conn, user_id, idempotency_key,
                                                              fingerprint)) is not None:
                return earlier, True
            raise
        new = _new_order(user_id, body, route, idempotency_key, fingerprint, settings,
                         cleared)
        try:
            async with books.refusing_deleted(new.portfolio_id):
                row = await _insert(conn, new)
        except IntegrityError as exc:
            return await _on_conflict(conn, exc, new), True
    if row is None:
        # The usual retry after a timeout lands here: the insert saw the committed order with
        # this key and locked nothing, so it never waits on the worker filling that order.
        if idempotency_key and (earlier := await _replay(conn, new)) is not None:
            return earlier, True
        if new.client_order_id and await orders.client_order_id_taken(
                conn, user_id, new.client_order_id):
            raise _client_order_id_taken(new)
        halt = await halts.state(conn, user_id, route.account_id)
        if halt is not None and halt["halted_at"] is not None:
            raise account_halted(str(halt["id"]), halt["halted_at"].isoformat())
        if route.account_id is not None:
            raise Conflict("the connection was revoked or expired while the order was placed",
                           code="connection_expired", details={"field": "account_id"})
        await _explain_rejected_reservation(conn, new)
    assert row is not None
    if cleared.waiting is not None:
        return await _note_waiting(conn, row, cleared.waiting), False
    return row, False


async def _note_waiting(conn: AsyncConnection, row: RowMapping,
                        detail: str) -> Mapping[Any, Any]:
    """Say on the new order why it waits (the status_detail of its first answer)."""
    try:
        saved = await orders.save(conn, Change(orders.to_order(row)).then(ev.Waiting(detail)),
                                  actor="paper")
    except StaleOrder:
        return row  # a worker moved it first: it says for itself what it waits for
    after = saved.after
    return {**row, "status_detail": after.status_detail, "version": after.version,
            "updated_at": after.updated_at}


def _new_order(user_id: uuid.UUID, body: PlaceOrder, route: Route, idempotency_key: str | None,
               fingerprint: str | None, settings: Settings,
               cleared: pretrade.Cleared) -> orders.NewOrder:
    req = _to_request(body)
    if cleared.expire_at is not None:
        # A paper DAY order ends at its session's close.
        req = replace(req, expire_at=cleared.expire_at)
    reference = None
    if route.account_id is None and req.side is Side.BUY and req.order_type in (
            OrderType.MARKET, OrderType.TRAILING_STOP):
        reference = cleared.ask
    order_id = uuid.uuid4()
    return orders.NewOrder(
        id=order_id, user_id=user_id, broker=route.broker.value, account_id=route.account_id,
        product=route.product.value if route.product else None,
        broker_tag=order_tag(route.broker, order_id) if route.account_id else None, request=req,
        client_order_id=body.client_order_id, idempotency_key=idempotency_key,
        request_hash=fingerprint,
        reserve_cash=(Decimal(0) if route.account_id else
                      reservation(req, reference, settings.market_order_cushion,
                                  settings.paper_fees)),
        dispatch_grace_seconds=settings.dispatch_grace_seconds,
        order_class=body.order_class,
        exit_terms=(None if body.order_class is OrderClass.SIMPLE
                    else exits_of(body).to_json()),
        portfolio_id=body.portfolio_id,
    )


async def _insert(conn: AsyncConnection, new: orders.NewOrder) -> RowMapping | None:
    """Reserve and insert the order, trying again when PostgreSQL broke a deadlock with it."""
    for attempt in range(1, INSERT_ATTEMPTS + 1):
        try:
            return await orders.insert_order(conn, new)
        except DBAPIError as exc:
            if _sqlstate(exc) != DEADLOCK_DETECTED or attempt == INSERT_ATTEMPTS:
                raise
            # The first order with this Idempotency-Key or client_order_id was not committed
            # when the statement began; it is now, and the worker filling it waits for the
            # account row the reservation held. The next try sees it and locks nothing.
            log.info("order insert deadlocked with a fill (attempt %d); trying again", attempt)
    raise AssertionError("unreachable")


def _constraint(exc: IntegrityError) -> str | None:
    cause = getattr(exc.orig, "__cause__", None)
    name: str | None = getattr(cause, "constraint_name", None)
    return name


def _sqlstate(exc: DBAPIError) -> str | None:
    code: str | None = getattr(getattr(exc.orig, "__cause__", None), "sqlstate", None)
    return code


async def _on_conflict(conn: AsyncConnection, exc: IntegrityError,
                       new: orders.NewOrder) -> RowMapping:
    constraint = _constraint(exc)
    if constraint == "uq_orders_user_idempotency_key" or (
            new.idempotency_key is not None and constraint == "uq_orders_user_client_order_id"):
        # With both keys, the client_order_id index may report the repeat first.
        earlier = await _replay(conn, new)
        if earlier is not None:
            return earlier
    if constraint == "uq_orders_user_client_order_id":
        raise _client_order_id_taken(new)
    raise exc


def _client_order_id_taken(new: orders.NewOrder) -> Conflict:
    return Conflict(f"client_order_id {new.client_order_id} is already used by another order",
                    code="duplicate_client_order_id",
                    details={"field": "client_order_id", "value": new.client_order_id})


async def _replay(conn: AsyncConnection, new: orders.NewOrder) -> RowMapping | None:
    assert new.idempotency_key is not None
    return await _earlier(conn, new.user_id, new.idempotency_key, new.request_hash)


async def _earlier(conn: AsyncConnection, user_id: uuid.UUID, key: str,
                   fingerprint: str | None) -> RowMapping | None:
    earlier = await orders.get_by_idempotency_key(conn, user_id, key)
    if earlier is None:
        return None
    if earlier["request_hash"] != fingerprint:
        raise InvalidOrder(
            "this Idempotency-Key was already used with a different request body",
            code="idempotency_key_reused", details={"field": header_field("Idempotency-Key")})
    return earlier


async def _explain_rejected_reservation(conn: AsyncConnection, new: orders.NewOrder) -> None:
    req = new.request
    if req.side is Side.BUY:
        result = await conn.execute(
            text("SELECT cash - reserved_cash FROM accounts WHERE user_id = :u AND broker = :b"),
            {"u": new.user_id, "b": new.broker})
        check_buying_power(new.reserve_cash, _plain(result.scalar()))
    else:
        result = await conn.execute(
            text("SELECT p.quantity - p.reserved_quantity FROM positions p JOIN accounts a"
                 " ON a.id = p.account_id WHERE a.user_id = :u AND a.broker = :b"
                 " AND p.symbol = :s"), {"u": new.user_id, "b": new.broker, "s": req.symbol})
        check_free_position(req.quantity, _plain(result.scalar()))
    # The balance moved between the statement and this check: still a rejection.
    raise InvalidOrder("the reservation for this order could not be made; retry",
                       code="reservation_failed", details={"field": "quantity"})


def _plain(amount: Decimal | None) -> Decimal:
    # NUMERIC(24,8) pads with zeros; error messages read better without them.
    return Decimal(decimal_str(amount or Decimal(0)))


async def cancel_order(conn: AsyncConnection, user_id: uuid.UUID, order_id: uuid.UUID,
                       grace_seconds: float, *, via: str | None = None) -> tuple[Change, bool]:
    """Cancel an order; returns (the saved change, must the broker be asked?).

    The audit trail names the user as the actor, and `via` the route when it is not a plain
    cancel ("halt": the kill switch, "close": a position being closed).
    """
    actor = f"user:{user_id}" + (f":{via}" if via else "")
    order = await orders.get_for_user(conn, user_id, order_id, for_update=True)
    if order is None:
        raise NotFound(f"order {order_id} not found", details={"field": "order_id"})
    if is_terminal(order.status):
        raise Conflict(f"order is {order.status.value} and can no longer be canceled",
                       code="order_not_cancelable", details={"status": order.status.value})
    if order.status is OrderStatus.PENDING_CANCEL:
        return Change(order), False  # asked already: the same answer again
    if order.status is OrderStatus.PENDING_NEW:
        # Not at the broker yet: cancel here. The worker then finds nothing new to submit.
        closed = Change(order).then(ev.Canceled())
        await orders.release_reservation(conn, order, closed.after)
        return await orders.save(conn, closed, dispatch=orders.Dispatch.done(),
                                 actor=actor), False
    requested = Change(order).then(ev.CancelRequested())
    return await orders.save(conn, requested, dispatch=orders.Dispatch(grace_seconds),
                             actor=actor), True


def _in_seconds(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


def encode_cursor(created_at: datetime, row_id: uuid.UUID) -> str:
    """Make an opaque keyset cursor from the last item of a page."""
    raw = f"{created_at.isoformat()}|{row_id}"
    return base64.urlsafe_b64encode(raw.encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    """Read a cursor made by encode_cursor; InvalidOrder if it was tampered with."""
    try:
        created, order_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
        return datetime.fromisoformat(created), uuid.UUID(order_id)
    except (ValueError, UnicodeDecodeError):
        raise InvalidOrder("cursor is not valid; pass next_cursor from a previous page",
                           code="invalid_cursor", details={"field": "cursor"}) from None
