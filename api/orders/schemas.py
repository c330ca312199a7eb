"""Order request and response bodies."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)
from pydantic_core import PydanticCustomError

from shared.brokers.catalog import Product
from shared.domain.enums import OrderClass, OrderStatus, OrderType, Side, TimeInForce
from shared.domain.values import AMOUNT_DECIMALS, MAX_PRICE, MAX_QUANTITY, check_amount

# Plain decimal notation in ASCII: Decimal() alone would also read "١٠٠", " 1 " and "1_000".
PLAIN_DECIMAL = r"-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?"
_PLAIN_DECIMAL = re.compile(PLAIN_DECIMAL)


def _upper(value: Any) -> Any:
    return value.strip().upper() if isinstance(value, str) else value


def _amount(maximum: Decimal) -> Callable[[Any, ValidationInfo], Any]:
    """Validate an amount before pydantic's Decimal does: notation, then range and places."""

    def check(value: Any, info: ValidationInfo) -> Any:
        field = info.field_name or "amount"
        if isinstance(value, str):
            value = _plain_decimal(value, field)
        elif isinstance(value, bool | float):
            # Bodies are parsed with parse_float=Decimal: a float came from elsewhere.
            raise PydanticCustomError("decimal_type", "{field} must be a decimal number or a "
                                      "decimal string", {"field": field})
        elif isinstance(value, int):
            value = Decimal(value)
        if not isinstance(value, Decimal):
            return value  # None, a list...: pydantic says what it expected
        try:
            return check_amount(value, field=field, maximum=maximum)
        except ValueError as exc:
            raise PydanticCustomError("amount_out_of_range", "{reason}",
                                      {"reason": str(exc)}) from None

    return check


def _plain_decimal(text: str, field: str) -> Decimal:
    if not _PLAIN_DECIMAL.fullmatch(text):
        raise PydanticCustomError(
            "decimal_notation", "{field} must be a number in plain decimal notation (ASCII "
            "digits, an optional . and exponent, as in 12.5 or 1e3), was {value}",
            {"field": field, "value": repr(text[:32])})
    try:
        return Decimal(text)
    except InvalidOperation:  # the notation is fine, so the exponent is beyond Decimal's
        raise PydanticCustomError(
            "amount_out_of_range", "{field} has an exponent too large for any amount, was "
            "{value}", {"field": field, "value": repr(text[:32])}) from None


def _documented(maximum: Decimal, what: str) -> WithJsonSchema:
    return WithJsonSchema({
        "anyOf": [{"type": "number", "exclusiveMinimum": 0, "maximum": int(maximum)},
                  {"type": "string", "pattern": f"^{PLAIN_DECIMAL}$"}],
        "description": f"{what}: a JSON number or a decimal string, more than 0 and at most "
                       f"{maximum}, with at most {AMOUNT_DECIMALS} decimal places"})


Upper = BeforeValidator(_upper)
Percent = Annotated[Decimal, BeforeValidator(_amount(Decimal(100))),
                    _documented(Decimal(100), "percent")]
# Amounts: a JSON number or a plain decimal string, bounded and with 8 places at most before
# any SQL sees them (the columns are NUMERIC(24,8)); the sign is checked by the domain.
Quantity = Annotated[Decimal, BeforeValidator(_amount(MAX_QUANTITY)),
                     _documented(MAX_QUANTITY, "shares or units")]
Price = Annotated[Decimal, BeforeValidator(_amount(MAX_PRICE)),
                  _documented(MAX_PRICE, "per share or unit, in the instrument's currency")]


class TakeProfitIn(BaseModel):
    """A take-profit exit: a LIMIT order at `limit_price`."""

    model_config = ConfigDict(extra="forbid")

    limit_price: Price


class StopLossIn(BaseModel):
    """A stop-loss exit: a STOP at `stop_price`, a STOP_LIMIT when `limit_price` is given."""

    model_config = ConfigDict(extra="forbid")

    stop_price: Price
    limit_price: Price | None = None


class PlaceOrder(BaseModel):
    """A new order. Enums are case-insensitive; amounts are decimal strings or JSON numbers.

    Route it with `account_id` (the paper account or a broker connection), or with `broker`
    alone when you have one connection at that broker; neither means your paper account.
    """

    model_config = ConfigDict(extra="forbid")

    symbol: Annotated[str, Upper, Field(min_length=1, max_length=32)]
    side: Annotated[Side, Upper]
    order_type: Annotated[OrderType, Upper]
    quantity: Quantity
    price: Price | None = None
    stop_price: Price | None = None
    trail_price: Annotated[Price | None, Field(
        description="TRAILING_STOP: how far the stop trails the market, in price")] = None
    trail_percent: Annotated[Percent | None, Field(
        description="TRAILING_STOP: how far the stop trails the market, in percent")] = None
    time_in_force: Annotated[TimeInForce, Upper] = TimeInForce.DAY
    expire_at: Annotated[AwareDatetime | None, Field(
        description="GTD: when the order expires (with its time zone)")] = None
    client_order_id: Annotated[
        str | None, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")
    ] = None
    broker: Annotated[
        str | None, BeforeValidator(lambda v: v.strip().lower() if isinstance(v, str) else v)
    ] = None
    account_id: uuid.UUID | None = None
    portfolio_id: uuid.UUID | None = Field(
        default=None, description="one of your portfolios: the order's fills roll up under it "
                                  "(GET /portfolios/{portfolio_id}); its exits inherit it")
    # Indian brokers' margin product; defaults to CNC (delivery) there, refused elsewhere.
    product: Annotated[Product | None, Upper] = None
    order_class: Annotated[OrderClass, BeforeValidator(
        lambda v: v.strip().lower() if isinstance(v, str) else v), Field(
        description="simple; bracket (a BUY entry with take_profit and stop_loss, opened when "
                    "it fills); oto (an entry with one of them); oco (a SELL LIMIT take-profit "
                    "for shares you hold, with its stop_loss beside it). At a real broker "
                    "ordergate places the exits itself as the entry fills (the broker must "
                    "carry them and support modify, else 422 unsupported_order_class)")
    ] = OrderClass.SIMPLE
    take_profit: TakeProfitIn | None = None
    stop_loss: StopLossIn | None = None


# Responses render every amount as a string in plain notation, exact to its last place, with no
# exponent and no padding zeros (shared.messaging.order_view.decimal_str): say so, not "any string".
AmountText = Annotated[Decimal, WithJsonSchema({
    "type": "string", "pattern": r"^-?[0-9]+(\.[0-9]+)?$",
    "description": "a decimal number as a string, in plain notation (no exponent)"})]


class LegOut(BaseModel):
    """An order as the client sees it (as a leg: without legs of its own)."""

    id: uuid.UUID
    client_order_id: str | None
    symbol: str
    side: Side
    order_type: OrderType
    quantity: AmountText
    price: AmountText | None
    stop_price: AmountText | None = Field(
        description="the stop; for a TRAILING_STOP, where it triggers now")
    trail_price: AmountText | None
    trail_percent: AmountText | None
    hwm: AmountText | None = Field(
        description="a TRAILING_STOP's water mark: the highest bid (SELL) or lowest ask (BUY)")
    time_in_force: TimeInForce
    expire_at: datetime | None = Field(
        description="when the order expires: a GTD order's expire_at, a paper DAY order's "
                    "session close")
    order_class: OrderClass
    parent_id: uuid.UUID | None = Field(
        description="a leg's entry (bracket, oto) or oco order; null for the others")
    broker: str
    account_id: uuid.UUID = Field(description="the paper account or the broker connection")
    portfolio_id: uuid.UUID | None = Field(description="the portfolio the order rolls up under")
    product: Product | None
    broker_order_id: str | None
    status: OrderStatus
    broker_status: str | None = Field(description="the broker's own status string, verbatim")
    status_detail: str | None = Field(
        description="why the order is waiting, or the broker's message about it")
    filled_quantity: AmountText
    avg_fill_price: AmountText | None
    reject_reason: str | None
    created_at: datetime
    updated_at: datetime


class OrderOut(LegOut):
    """An order as the client sees it."""

    legs: list[LegOut] = Field(
        description="the exits this order opened (bracket, oto, oco), as orders of their own")


class OrderPage(BaseModel):
    """A page of orders, newest first; pass `next_cursor` back as `cursor` for the next page."""

    items: list[OrderOut]
    next_cursor: str | None


class FillOut(BaseModel):
    """One execution of an order."""

    id: uuid.UUID
    order_id: uuid.UUID
    symbol: str
    side: Side
    quantity: AmountText
    price: AmountText
    commission: AmountText = Field(description="every charge of the fill, taken from cash")
    brokerage_charge: AmountText = Field(description="the broker's brokerage (part of commission)")
    mtf_charge: AmountText = Field(
        description="margin trading facility interest (part of commission; 0 without margin)")
    broker: str
    broker_exec_id: str
    executed_at: datetime


class FillPage(BaseModel):
    """A page of fills, newest first."""

    items: list[FillOut]
    next_cursor: str | None


class ReplaceOrder(BaseModel):
    """New terms for a working order: each field given replaces the current value, each field
    omitted keeps it. Symbol, side and order type cannot change (cancel and place anew).

    Setting one of `trail_price` / `trail_percent` clears the other, and a `time_in_force`
    other than GTD clears `expire_at`, unless the body names them too.
    """

    model_config = ConfigDict(extra="forbid")

    quantity: Annotated[Quantity | None, Field(
        description="the new total quantity, filled part included; never below what is "
                    "filled (equal to it ends the order as FILLED)")] = None
    price: Price | None = None
    stop_price: Price | None = None
    trail_price: Annotated[Price | None, Field(
        description="TRAILING_STOP: how far the stop trails the market, in price")] = None
    trail_percent: Annotated[Percent | None, Field(
        description="TRAILING_STOP: how far the stop trails the market, in percent")] = None
    time_in_force: Annotated[TimeInForce | None, Upper] = None
    expire_at: Annotated[AwareDatetime | None, Field(
        description="GTD: when the order expires (with its time zone)")] = None

    @field_validator("quantity", "time_in_force")
    @classmethod
    def _not_null(cls, value: Any, info: ValidationInfo) -> Any:
        # Called only for a value the body gave: null cannot mean "keep" (omit the field).
        if value is None:
            raise PydanticCustomError("not_null", "{field} cannot be null; omit it to keep "
                                      "the current value", {"field": info.field_name})
        return value
