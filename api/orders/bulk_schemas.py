"""Bodies of the routes that act on many orders at once, and of the audit trail."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from api.errors import ErrorDetail
from api.orders.schemas import OrderOut, PlaceOrder
from shared.domain.enums import OrderStatus

MAX_BATCH = 100
JsonValue = Annotated[Any, Field(description="a string (amounts and times too), a number, "
                                             "true/false or null")]


class CancelResult(BaseModel):
    """One order of a cancel-all: the order after the cancel (202), or why it was not."""

    order_id: uuid.UUID
    http_status: int = Field(description="202: CANCELED at once, or PENDING_CANCEL while the "
                                         "venue is asked; else the status of `error`")
    order: OrderOut | None
    error: ErrorDetail | None


class CancelResults(BaseModel):
    """Every open order the request found, one result each."""

    items: list[CancelResult]


class PlaceBatch(BaseModel):
    """Up to 100 orders; each needs its own `client_order_id` (its key for safe retries)."""

    model_config = ConfigDict(extra="forbid")

    orders: Annotated[list[PlaceOrder], Field(min_length=1, max_length=MAX_BATCH)]


class BatchEnvelope(BaseModel):
    """What is checked of a batch as a whole; each item is checked on its own afterwards."""

    model_config = ConfigDict(extra="forbid")

    orders: Annotated[list[Any], Field(min_length=1, max_length=MAX_BATCH)]


class BatchResult(BaseModel):
    """One item of a batch, at its index: the accepted order (202), or the item's error."""

    index: int
    client_order_id: str | None
    http_status: int = Field(description="202 when accepted (or replayed); else the status "
                                         "of `error`")
    replayed: bool = Field(description="true when this client_order_id was accepted before: "
                                       "`order` is that first answer and nothing new was made")
    order: OrderOut | None
    error: ErrorDetail | None


class BatchResults(BaseModel):
    """One result per item, in the order of the request."""

    items: list[BatchResult]


class ChangedValue(BaseModel):
    """A value of the order before and after the event."""

    old: JsonValue
    new: JsonValue


class OrderEventOut(BaseModel):
    """One entry of an order's audit trail."""

    version: int = Field(description="the order's version after this event (1: created)")
    from_status: OrderStatus | None
    to_status: OrderStatus
    event: str = Field(description="what happened (Created, CancelRequested, Filled, ...)")
    fields: dict[str, Any] = Field(description="the event's own values (amounts as strings)")
    changed: dict[str, ChangedValue] = Field(description="the order's values the event changed")
    actor: str | None = Field(description="who or what caused it: user:<id> (with :halt or "
                                          ":close when the kill switch or a position close "
                                          "did), paper, broker:<name>, ...; null if unrecorded")
    at: datetime


class OrderEventPage(BaseModel):
    """An order's events, oldest first; pass `next_after_version` as `after_version` for more."""

    order_id: uuid.UUID
    items: list[OrderEventOut]
    next_after_version: int | None
