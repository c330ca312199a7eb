"""Account and position bodies: every amount is in the currency named beside it."""

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema

from api.orders.schemas import _amount, _documented
from shared.domain.limits import MAX_COUNT_LIMIT
from shared.domain.values import MAX_NOTIONAL


class AccountOut(BaseModel):
    """One account: cash, what is free to trade, and P&L, all in its own currency."""

    account_id: uuid.UUID
    broker: str = Field(description="paper, or the broker of this connection")
    currency: str = Field(description="ISO 4217 code of every amount here (USD, INR, …)")
    cash: Decimal
    buying_power: Decimal
    equity: Decimal = Field(description="cash plus this account's positions at their marks")
    realized_pnl: Decimal
    unrealized_pnl: Decimal


class PositionOut(BaseModel):
    """A position marked to the last price, in the currency of the account that holds it."""

    account_id: uuid.UUID
    broker: str
    currency: str
    symbol: str
    quantity: Decimal
    avg_price: Decimal
    market_price: Decimal | None
    market_value: Decimal | None
    unrealized_pnl: Decimal | None
    realized_pnl: Decimal


# --- Settings: what a MARKET order does outside the session, and the risk limits ---------------

LimitAmount = Annotated[Decimal, BeforeValidator(_amount(MAX_NOTIONAL)),
                        _documented(MAX_NOTIONAL, "in the account's currency")]
LimitCount = Annotated[int, Field(strict=True, ge=1, le=MAX_COUNT_LIMIT)]
OutsideSession = Literal["wait", "reject"]


class RiskLimitsPatch(BaseModel):
    """Limits to change: a value replaces the account's own, null removes it (the default of
    the settings applies again); a limit not named is left as it is."""

    model_config = ConfigDict(extra="forbid")

    max_order_value: LimitAmount | None = Field(
        default=None, description="the most one order may be worth (price × quantity)")
    max_position_value: LimitAmount | None = Field(
        default=None, description="the most a position in one symbol may be worth, with the "
                                  "working BUY orders in it")
    max_open_orders: LimitCount | None = Field(
        default=None, description="the most orders the account may have open at once")
    max_orders_per_second: LimitCount | None = Field(
        default=None, description="the most orders the account may place in any one second")


class AccountSettingsPatch(BaseModel):
    """Settings to change; what is not named stays as it is."""

    model_config = ConfigDict(extra="forbid")

    outside_session: OutsideSession | None = Field(
        default=None, description="a paper MARKET order outside its exchange's session: "
                                  "`wait` for the open, or `reject` it (422 market_closed)")
    risk_limits: RiskLimitsPatch | None = None


AmountOut = Annotated[Decimal, WithJsonSchema({
    "type": "string", "pattern": r"^[0-9]+(\.[0-9]+)?$",
    "description": "a decimal number as a string, in the account's currency"})]


class RiskLimitsOut(BaseModel):
    """Risk limits; null: none."""

    max_order_value: AmountOut | None
    max_position_value: AmountOut | None
    max_open_orders: int | None
    max_orders_per_second: int | None


class AccountSettingsOut(BaseModel):
    """An account's trading settings."""

    account_id: uuid.UUID
    broker: str
    currency: str = Field(description="the currency of every limit amount")
    outside_session: OutsideSession
    halted_at: datetime | None = Field(description="the kill switch: set, no new orders")
    risk_limits: RiskLimitsOut = Field(description="the account's own limits (null: the "
                                                   "default applies)")
    default_risk_limits: RiskLimitsOut = Field(description="the settings' limits")
    effective_risk_limits: RiskLimitsOut = Field(description="the limits orders are checked "
                                                             "against")


# --- ?source=broker: what the broker itself reports --------------------------------------------

class BrokerPositionOut(BaseModel):
    """A position or holding as the broker reports it (a delivery position counts both)."""

    symbol: str
    exchange: str
    quantity: Decimal
    avg_price: Decimal
    product: str | None


class BrokerPositions(BaseModel):
    """The broker's own positions and holdings of one connection, as it answered."""

    account_id: uuid.UUID
    broker: str
    source: Literal["broker"]
    positions: list[BrokerPositionOut]


class BrokerFundsOut(BaseModel):
    """Cash the broker says is available, and margin used, in its currency."""

    currency: str
    available_cash: Decimal
    used_margin: Decimal


class BrokerFunds(BaseModel):
    """The broker's own funds of one connection, as it answered."""

    account_id: uuid.UUID
    broker: str
    source: Literal["broker"]
    funds: BrokerFundsOut
