"""Routes over many orders (cancel all, batches) and an order's audit trail.

Cancel-all and batches answer **207 Multi-Status**: the request was carried out item by item,
each with its own `http_status` and either the order or the error (in the inner shape of the
API's one error body). Nothing is all-or-nothing: one item's failure leaves the others done.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from api.audit import WhoDep
from api.deps import (
    PLACEMENT_BUDGET,
    EngineDep,
    PrincipalDep,
    RedisDep,
    SettingsDep,
)
from api.errors import ApiError, error_item
from api.json_body import parse_body
from api.orders.bulk_schemas import (
    BatchEnvelope,
    BatchResults,
    CancelResults,
    OrderEventPage,
)
from api.orders.cancels import Edges, cancel_each, cancel_item
from api.orders.placer import Placer, PlacerDep
from api.orders.schemas import PlaceOrder
from api.paths import ORDER_ID
from api.responses import PLACEMENT
from shared.db.repositories import accounts, order_events, orders
from shared.domain.audit import Action
from shared.domain.errors import DomainError, InvalidOrder, NotFound
from shared.messaging.order_view import as_first_accepted, event_resource, order_resource

router = APIRouter(tags=["orders"])
MAX_EVENTS_PAGE = 500
# A batch item's client_order_id doubles as its idempotency key, in a namespace of its own so
# it never meets an Idempotency-Key header: a replayed item with the same body is answered with
# the first result, one with another body is a 422, like POST /orders with a reused key.
BATCH_KEY_PREFIX = "batch-client-order-id:"

Responses = dict[int | str, dict[str, Any]]
_AUTH: Responses = {401: {"description": "missing or invalid access token"}}
_NOT_FOUND: Responses = {404: {"description": "no such account of yours: absent and "
                                              "foreign alike"}}


def _request_id(request: Request) -> str | None:
    value: str | None = getattr(request.state, "request_id", None)
    return value


@router.delete(
    "/orders", status_code=207, response_model=CancelResults,
    responses={**_AUTH, **_NOT_FOUND,
               207: {"description": "one result per open order (each its own transaction)"},
               422: {"description": "a query parameter is invalid; `details.field` names it"}})
async def cancel_all_orders(
    request: Request, principal: PrincipalDep, who: WhoDep, engine: EngineDep, redis: RedisDep,
    settings: SettingsDep,
    symbol: Annotated[str | None, Query(min_length=1, max_length=32,
                                        description="only this symbol's orders")] = None,
    account_id: Annotated[uuid.UUID | None, Query(
        description="only this account's orders (default: every account of yours)")] = None,
) -> Response:
    """Cancel every open order of yours (optionally of one symbol or account), one by one."""
    async with engine.connect() as conn:
        if account_id is not None and await accounts.get_owned(
                conn, principal.user_id, account_id) is None:
            raise NotFound(f"account {account_id} not found", details={"field": "account_id"})
        open_ids = await orders.open_for_user(
            conn, principal.user_id, account_id=account_id,
            symbol=symbol.strip().upper() if symbol else None)
    done = await cancel_each(Edges(engine, redis, settings), who, open_ids)
    # Each cancel is audited in its own transaction; this entry says what was asked for, and
    # shares their request id.
    async with engine.begin() as conn:
        await who.record(conn, Action.ORDERS_CANCEL_ALL, details={
            "symbol": symbol, "account_id": account_id, "open_orders": len(open_ids),
            "canceled": sum(item.error is None for item in done)})
    request_id = _request_id(request)
    return JSONResponse({"items": [cancel_item(item, request_id) for item in done]},
                        status_code=207)


@router.post(
    "/orders/batch", status_code=207, response_model=BatchResults,
    dependencies=[PLACEMENT_BUDGET],
    responses={**PLACEMENT,
               207: {"description": "one result per item, in order; no all-or-nothing"},
               400: {"description": "the body is not JSON (`invalid_json`) or repeats a key "
                                    "(`duplicate_key`)"},
               422: {"description": "the body is not `{\"orders\": [...]}` with 1 to 100 "
                                    "items; `details.field` names what is wrong"}},
    openapi_extra={"requestBody": {"required": True, "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/PlaceBatch"}}}}},
)
async def submit_batch(request: Request, placer: PlacerDep) -> Response:
    """Submit up to 100 orders: each item is placed (or refused) on its own, in order."""
    items = _parse_batch(await request.body())
    request_id = _request_id(request)
    results = [await _place_item(placer, index, raw, request_id)
               for index, raw in enumerate(items)]
    return JSONResponse({"items": results}, status_code=207)


def _parse_batch(raw: bytes) -> list[Any]:
    # The whole body through the API's one strict parser; then only its envelope is checked
    # here, so that one bad item is that item's error and never the batch's.
    try:
        return BatchEnvelope.model_validate(parse_body(raw)).orders
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from None


async def _place_item(placer: Placer, index: int, raw: Any,
                      request_id: str | None) -> dict[str, Any]:
    """Place one item; its expected errors become its result (schema: BatchResult)."""
    result = {"index": index, "client_order_id": _client_order_id(raw), "replayed": False}
    try:
        body = _item(raw)
        order, replayed = await placer.place(body, BATCH_KEY_PREFIX + str(body.client_order_id))
    except (DomainError, ApiError, RequestValidationError) as exc:
        status, error = error_item(exc, request_id)
        return {**result, "http_status": status, "order": None, "error": error}
    shown = as_first_accepted(order) if replayed else order
    return {**result, "http_status": 202, "replayed": replayed, "order": order_resource(shown),
            "error": None}


def _client_order_id(raw: Any) -> str | None:
    value = raw.get("client_order_id") if isinstance(raw, Mapping) else None
    return value if isinstance(value, str) else None


def _item(raw: Any) -> PlaceOrder:
    try:
        body = PlaceOrder.model_validate(raw)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from None
    if body.client_order_id is None:
        raise InvalidOrder("each order of a batch needs its own client_order_id, so that a "
                           "retried batch places it once", details={"field": "client_order_id"})
    return body


@router.get(f"/orders/{ORDER_ID}/events", response_model=OrderEventPage,
            responses={**_AUTH, 404: {"description": "no such order for this user"},
                       422: {"description": "a query parameter is invalid; `details.field` "
                                            "names it"}})
async def order_events_trail(
    order_id: str, principal: PrincipalDep, engine: EngineDep,
    after_version: Annotated[int, Query(ge=0, le=2**31 - 1,
                                        description="only events after this version")] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_EVENTS_PAGE)] = MAX_EVENTS_PAGE,
) -> Response:
    """Return an order's audit trail: every transition, who caused it and what it changed."""
    oid = _order_id(order_id)
    async with engine.connect() as conn:
        rows = await order_events.trail_for_user(conn, principal.user_id, oid,
                                                 after_version=after_version, limit=limit)
    if rows is None:
        raise NotFound(f"order {order_id} not found", details={"field": "order_id"})
    items = [event_resource(row) for row in rows]
    more = items[-1]["version"] if len(items) == limit else None
    return JSONResponse({"order_id": str(oid), "items": items, "next_after_version": more})


def _order_id(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise NotFound(f"order {raw} not found", details={"field": "order_id"}) from None
