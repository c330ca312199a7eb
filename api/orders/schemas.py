"""Order request and response bodies."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from shared.brokers.catalog import Product
from shared.domain.enums import OrderStatus, OrderType, Side, TimeInForce


def _upper(value: Any) -> Any:
    return value.strip().upper() if isinstance(value, str) else value


def _no_float(value: Any) -> Any:
    # Bodies are parsed with parse_float=Decimal, so a float here came from elsewhere: refuse it.
    if isinstance(value, bool | float):
        raise ValueError("must be a decimal number or a decimal string")
    return value


Upper = BeforeValidator(_upper)
Amount = Annotated[Decimal, BeforeValidator(_no_float), Field(allow_inf_nan=False)]


class PlaceOrder(BaseModel):
    """A new order. Enums are case-insensitive; amounts are decimal strings or JSON numbers.

    Route it with `account_id` (the paper account or a broker connection), or with `broker`
    alone when you have one connection at that broker; neither means your paper account.
    """

    model_config = ConfigDict(extra="forbid")

    symbol: Annotated[str, Upper, Field(min_length=1, max_length=32)]
    side: Annotated[Side, Upper]
    order_type: Annotated[OrderType, Upper]
    quantity: Amount
    price: Amount | None = None
    stop_price: Amount | None = None
    time_in_force: Annotated[TimeInForce, Upper] = TimeInForce.DAY
    client_order_id: Annotated[
        str | None, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")
    ] = None
    broker: Annotated[
        str | None, BeforeValidator(lambda v: v.strip().lower() if isinstance(v, str) else v)
    ] = None
    account_id: uuid.UUID | None = None
    # Indian brokers' margin product; defaults to CNC (delivery) there, refused elsewhere.
    product: Annotated[Product | None, Upper] = None


class OrderOut(BaseModel):
    """An order as the client sees it."""

    id: str
    client_order_id: str | None
    symbol: str
    side: Side
    order_type: OrderType
    quantity: Decimal
    price: Decimal | None
    stop_price: Decimal | None
    time_in_force: TimeInForce
    broker: str
    account_id: str
    product: Product | None
    broker_order_id: str | None
    status: OrderStatus
    broker_status: str | None = Field(description="the broker's own status string, verbatim")
    status_detail: str | None = Field(
        description="why the order is waiting, or the broker's message about it")
    filled_quantity: Decimal
    avg_fill_price: Decimal | None
    reject_reason: str | None
    created_at: datetime
    updated_at: datetime


class OrderPage(BaseModel):
    """A page of orders, newest first; pass `next_cursor` back as `cursor` for the next page."""

    items: list[OrderOut]
    next_cursor: str | None


class FillOut(BaseModel):
    """One execution of an order."""

    id: str
    order_id: str
    symbol: str
    side: Side
    quantity: Decimal
    price: Decimal
    commission: Decimal
    broker: str
    broker_exec_id: str
    executed_at: datetime


class FillPage(BaseModel):
    """A page of fills, newest first."""

    items: list[FillOut]
    next_cursor: str | None
