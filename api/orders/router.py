"""Order routes: parse, call the service, shape the response."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from api.audit import WhoDep
from api.deps import (
    PLACEMENT_BUDGET,
    AutocommitEngineDep,
    CalendarDep,
    ClockDep,
    DispatcherDep,
    EngineDep,
    InstrumentsDep,
    OrderRateDep,
    PrincipalDep,
    RedisDep,
    SettingsDep,
)
from api.json_body import parse_body
from api.orders import modify, service
from api.orders.cancels import announce_cancel, cancel_in
from api.orders.schemas import FillPage, OrderOut, OrderPage, PlaceOrder, ReplaceOrder
from api.paths import ORDER_ID
from api.responses import PLACEMENT
from shared.brokers.catalog import Broker, queue_for
from shared.db.repositories import fills, orders
from shared.db.repositories import legs as families
from shared.domain.enums import OrderClass, OrderStatus
from shared.domain.errors import NotFound
from shared.domain.orders import Order
from shared.messaging.order_view import as_first_accepted, json_value, order_resource
from shared.messaging.publish import cached_order

log = logging.getLogger(__name__)
router = APIRouter(tags=["orders"])
MAX_PAGE = 500

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "the body is not JSON (`invalid_json`) or repeats a key "
                         "(`duplicate_key`)"},
    401: {"description": "missing or invalid access token"},
    404: {"description": "no such order for this user"},
    409: {"description": "conflict with the order's state or an earlier request"},
    422: {"description": "the request is invalid; `details.field` names the field"},
}


def _parse_order(raw: bytes) -> PlaceOrder:
    # The route reads its body itself, so it is parsed once: by the API's one strict parser,
    # which keeps every digit of JSON numbers (Decimal) and refuses duplicate keys.
    data = parse_body(raw)
    try:
        return PlaceOrder.model_validate(data)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from None


def _order_id(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise NotFound(f"order {raw} not found", details={"field": "order_id"}) from None


@router.post(
    "/orders", status_code=202, response_model=OrderOut, responses={**_ERRORS, **PLACEMENT},
    dependencies=[PLACEMENT_BUDGET],
    # The body is parsed by hand (to keep every digit of JSON numbers), so document it here.
    openapi_extra={"requestBody": {"required": True, "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/PlaceOrder"}}}}},
)
async def submit_order(
    request: Request, principal: PrincipalDep, autocommit: AutocommitEngineDep,
    instruments: InstrumentsDep, settings: SettingsDep, dispatcher: DispatcherDep,
    clock: ClockDep, calendar: CalendarDep, rate: OrderRateDep,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", min_length=1,
                                                  max_length=255)] = None,
) -> Response:
    """Submit an order: 202 once it is persisted and queued for the broker."""
    body = _parse_order(await request.body())
    async with autocommit.connect() as conn:
        row, replayed = await service.place_order(
            conn, user_id=principal.user_id, body=body, idempotency_key=idempotency_key,
            instruments=instruments, settings=settings, clock=clock, calendar=calendar,
            rate=rate)
    order = orders.to_order(row)
    if replayed:
        resource = order_resource(as_first_accepted(order))
    else:
        dispatcher.submit(str(order.id), queue_for(Broker(order.broker)))
        resource = order_resource(order)
    headers = {"Location": f"/api/v1/orders/{resource['id']}"}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(resource, status_code=202, headers=headers)


@router.get(f"/orders/{ORDER_ID}", response_model=OrderOut, responses=_ERRORS)
async def get_order(order_id: str, principal: PrincipalDep, engine: EngineDep,
                    redis: RedisDep) -> Response:
    """Return one order (from the results cache when it has it, else the database)."""
    oid = _order_id(order_id)
    try:
        cached = await cached_order(redis, str(oid), str(principal.user_id))
    except Exception as exc:  # noqa: BLE001 - the cache is an optimisation, the DB is the truth
        log.warning("results cache unavailable: %s", exc)
        cached = None
    # A snapshot is of one order: an entry or oco order's legs are read with it.
    if cached is not None and cached.get("order_class") == OrderClass.SIMPLE.value:
        return JSONResponse(cached)
    async with engine.connect() as conn:
        order = await orders.get_for_user(conn, principal.user_id, oid)
        if order is None:
            raise NotFound(f"order {order_id} not found", details={"field": "order_id"})
        [shaped] = await _with_legs(conn, [order])
    return JSONResponse(shaped)


async def _with_legs(conn: AsyncConnection, found: Sequence[Order]) -> list[dict[str, Any]]:
    """Order resources, each entry or oco order with the legs it opened (one read for all)."""
    parents = [o.id for o in found if o.order_class is not OrderClass.SIMPLE
               and o.parent_id is None]
    legs = await families.legs_of(conn, parents) if parents else []
    return [order_resource(o, [leg for leg in legs if leg.parent_id == o.id]) for o in found]


@router.get("/orders", response_model=OrderPage, responses=_ERRORS)
async def list_orders(
    principal: PrincipalDep, engine: EngineDep,
    status: Annotated[OrderStatus | None, Query()] = None,
    symbol: Annotated[str | None, Query(max_length=32)] = None,
    client_order_id: Annotated[str | None, Query(
        min_length=1, max_length=64, description="only the order with this client_order_id "
                                                 "(exact match)")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    """List your orders, newest first, with keyset pagination."""
    after = service.decode_cursor(cursor) if cursor else None
    async with engine.connect() as conn:
        found = await orders.list_for_user(
            conn, principal.user_id, status=status.value if status else None,
            symbol=symbol.upper() if symbol else None, limit=limit, after=after,
            client_order_id=client_order_id)
        items = await _with_legs(conn, found)
    last = found[-1] if len(found) == limit else None
    next_cursor = service.encode_cursor(last.created_at, last.id) if last else None
    return JSONResponse({"items": items, "next_cursor": next_cursor})


@router.delete(f"/orders/{ORDER_ID}", status_code=202, response_model=OrderOut, responses=_ERRORS)
async def cancel_order(order_id: str, who: WhoDep, engine: EngineDep, redis: RedisDep,
                       settings: SettingsDep) -> Response:
    """Cancel an order: CANCELED at once if not yet at the broker, else PENDING_CANCEL."""
    oid = _order_id(order_id)
    async with engine.begin() as conn:
        change, ask_broker = await cancel_in(conn, who, oid, settings.dispatch_grace_seconds)
    await announce_cancel(redis, change, ask_broker, settings)
    return JSONResponse(order_resource(change.after), status_code=202)


# The body is parsed by hand (to keep every digit of JSON numbers), so document it here; its
# enums are components already (the order resource uses them).
_REPLACE_BODY = ReplaceOrder.model_json_schema(ref_template="#/components/schemas/{model}")
_REPLACE_BODY.pop("$defs", None)


@router.patch(
    f"/orders/{ORDER_ID}", response_model=OrderOut,
    responses={**_ERRORS,
               200: {"description": "replaced: a paper order works on its new terms"},
               202: {"model": OrderOut, "description": "PENDING_REPLACE: the broker is asked; "
                                                       "the old terms stand until it confirms"},
               409: {"description": "the order cannot be replaced in its status "
                                    "(`order_not_replaceable`: filled first, final, a cancel "
                                    "or another replace under way, not yet acknowledged)"},
               422: {"description": "the new terms are invalid, change nothing "
                                    "(`nothing_to_replace`), exceed buying power or the free "
                                    "position, or the broker cannot change them; "
                                    "`details.field` names the field"}},
    openapi_extra={"requestBody": {"required": True, "content": {
        "application/json": {"schema": _REPLACE_BODY}}}},
)
async def replace_order(order_id: str, request: Request, principal: PrincipalDep,
                        engine: EngineDep, redis: RedisDep, instruments: InstrumentsDep,
                        settings: SettingsDep) -> Response:
    """Change a working order's terms: 200 once replaced on paper, 202 while a broker is asked."""
    oid = _order_id(order_id)
    body = modify.parse_replace(await request.body())
    async with engine.begin() as conn:
        done = await modify.replace_order(conn, user_id=principal.user_id, order_id=oid,
                                          body=body, instruments=instruments, settings=settings)
    await modify.announce(redis, done, settings)
    return JSONResponse(order_resource(done.change.after),
                        status_code=202 if done.at_broker else 200)


def _fill_page(rows: Sequence[RowMapping], limit: int | None) -> dict[str, Any]:
    """Shape fills; a full page (`limit` rows) gets a cursor to the next one."""
    items = [{k: json_value(v) for k, v in r.items() if k != "created_at"} for r in rows]
    last = rows[-1] if limit and len(rows) == limit else None
    next_cursor = service.encode_cursor(last["created_at"], last["id"]) if last else None
    return {"items": items, "next_cursor": next_cursor}


@router.get(f"/orders/{ORDER_ID}/fills", response_model=FillPage, responses=_ERRORS)
async def order_fills(order_id: str, principal: PrincipalDep, engine: EngineDep) -> Response:
    """List the fills of one of your orders."""
    oid = _order_id(order_id)
    async with engine.connect() as conn:
        if await orders.get_for_user(conn, principal.user_id, oid) is None:
            raise NotFound(f"order {order_id} not found", details={"field": "order_id"})
        rows = await fills.list_for_user(conn, principal.user_id, order_id=oid, limit=MAX_PAGE)
    return JSONResponse(_fill_page(rows, None))  # one order has few fills: no paging


@router.get("/fills", response_model=FillPage, responses=_ERRORS)
async def list_fills(
    principal: PrincipalDep, engine: EngineDep,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    """List your fills, newest first."""
    after = service.decode_cursor(cursor) if cursor else None
    async with engine.connect() as conn:
        rows = await fills.list_for_user(conn, principal.user_id, limit=limit, after=after)
    return JSONResponse(_fill_page(rows, limit))
