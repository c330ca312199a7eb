"""Bodies of the position-closing routes."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from api.errors import ErrorDetail
from api.orders.bulk_schemas import CancelResult
from api.orders.schemas import OrderOut, Percent, Quantity
from shared.brokers.catalog import Product


def _positive(value: Decimal) -> Decimal:
    if value <= 0:
        raise ValueError(f"must be more than 0, was {value}")
    return value


# Refused here, for the whole request: a share to close is the same for every position, so
# checking it per position gave a 207 with each one refused.
Share = Annotated[Percent, AfterValidator(_positive)]
Size = Annotated[Quantity, AfterValidator(_positive)]
_ACCOUNT = Field(description="only this account's position (a broker connection's id, or "
                             "the paper account's); default: every account of yours")
_PERCENTAGE = Field(description="close this share of the position, more than 0 and at most "
                                "100; rounded down to whole lots. Default: all of it")


class ClosePosition(BaseModel):
    """How much of one symbol's position to close: `percentage` or `quantity`, not both."""

    model_config = ConfigDict(extra="forbid")

    percentage: Annotated[Share | None, _PERCENTAGE] = None
    quantity: Annotated[Size | None, Field(
        description="close this many shares or units (at most the position)")] = None
    product: Annotated[Product | None, Field(
        description="at a broker with margin products (Indian brokers): close the intraday "
                    "(MIS) or the delivery (CNC) part. Default: the product that holds the "
                    "position; 422 `product_required` when both do")] = None
    account_id: Annotated[uuid.UUID | None, _ACCOUNT] = None


class ClosePositions(BaseModel):
    """How much of every position to close."""

    model_config = ConfigDict(extra="forbid")

    percentage: Annotated[Share | None, _PERCENTAGE] = None
    account_id: Annotated[uuid.UUID | None, _ACCOUNT] = None


class ClosedPosition(BaseModel):
    """One position: the open orders of its symbol canceled first, then the MARKET order
    that closes it (202), or why it could not be placed."""

    account_id: uuid.UUID
    symbol: str
    http_status: int = Field(description="202 when the closing order was accepted; else the "
                                         "status of `error`")
    canceled: list[CancelResult] = Field(description="the symbol's open orders in this "
                                                     "account, canceled before closing")
    order: OrderOut | None = Field(description="the closing MARKET order (SELL a long, BUY "
                                               "back a short)")
    error: ErrorDetail | None


class ClosedPositions(BaseModel):
    """One result per position closed."""

    items: list[ClosedPosition]
