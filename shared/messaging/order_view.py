"""The order resource as clients see it; one shape for the API, the cache and the stream."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

ORDER_FIELDS = (
    "id", "client_order_id", "symbol", "side", "order_type", "quantity", "price", "stop_price",
    "time_in_force", "broker", "account_id", "product", "broker_order_id", "status",
    "broker_status", "status_detail", "filled_quantity", "avg_fill_price", "reject_reason",
    "created_at", "updated_at",
)


def decimal_str(value: Decimal) -> str:
    """Render an amount without exponent or padding zeros: Decimal('100.00000000') → '100'."""
    return format(value.normalize(), "f")


def json_value(value: Any) -> Any:
    """Turn a column value into its JSON form: amounts as strings, times as ISO-8601."""
    if isinstance(value, Decimal):
        return decimal_str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if value is None or isinstance(value, str | int | bool):
        return value
    return str(value)


def order_resource(row: Mapping[Any, Any]) -> dict[str, Any]:
    """Shape an orders row into the public order resource."""
    return {field: json_value(row[field]) for field in ORDER_FIELDS}
