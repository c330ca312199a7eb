"""The order resource as clients see it; one shape for the API, the cache and the stream."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from shared.domain.enums import OrderStatus, OrderType
from shared.domain.orders import Order, trailing_stop_price
from shared.domain.values import decimal_str as decimal_str  # its home; re-exported

ORDER_FIELDS = (
    "id", "client_order_id", "symbol", "side", "order_type", "quantity", "price", "stop_price",
    "trail_price", "trail_percent", "hwm", "time_in_force", "expire_at", "order_class", "parent_id",
    "broker",
    "account_id", "portfolio_id", "product", "broker_order_id", "status",
    "broker_status", "status_detail", "filled_quantity", "avg_fill_price", "reject_reason",
    "created_at", "updated_at",
)


def json_value(value: Any) -> Any:
    """Turn a column value into its JSON form: amounts as strings, times as ISO-8601."""
    if isinstance(value, Decimal):
        return decimal_str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if value is None or isinstance(value, str | int | bool):
        return value
    return str(value)


def order_resource(order: Order, legs: Sequence[Order] = ()) -> dict[str, Any]:
    """Shape an order into the public order resource, with the legs it opened if given."""
    resource = _shaped(order)
    resource["legs"] = [_shaped(leg) for leg in legs]
    return resource


def event_resource(row: Mapping[Any, Any]) -> dict[str, Any]:
    """Shape an order_events row into one entry of the public audit trail."""
    detail = row["detail"]
    if isinstance(detail, str):
        detail = json.loads(detail)
    detail = dict(detail or {})
    # Version 1 is written by the insert that created the order, without a detail.
    event = detail.pop("event", "Created" if row["version"] == 1 else "Unrecorded")
    changed = detail.pop("changed", {})
    return {
        "version": row["version"], "from_status": row["from_status"],
        "to_status": row["to_status"], "event": event, "fields": detail,
        "changed": {name: {"old": old, "new": new} for name, (old, new) in changed.items()},
        "actor": row["actor"], "at": row["created_at"].isoformat(),
    }


def _shaped(order: Order) -> dict[str, Any]:
    resource = {field: json_value(getattr(order, field)) for field in ORDER_FIELDS}
    if order.order_type is OrderType.TRAILING_STOP:
        resource["stop_price"] = json_value(trailing_stop_price(order))
    return resource


def as_first_accepted(order: Order) -> Order:
    """The order as it was when first accepted: what an idempotent replay returns."""
    return replace(order, status=OrderStatus.PENDING_NEW, previous_status=None, version=1,
                   filled_quantity=Decimal(0), avg_fill_price=None, broker_order_id=None,
                   reject_reason=None, broker_status=None, status_detail=None,
                   placement=None, hwm=None, pending_terms=None, updated_at=order.created_at)
