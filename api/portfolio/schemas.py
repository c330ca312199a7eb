"""Bodies of the portfolio routes: every amount a decimal string in the currency beside it."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field

from api.accounts.schemas import PositionOut
from api.orders.schemas import AmountText


class FillBrief(BaseModel):
    """One fill of an order placed through ordergate."""

    id: uuid.UUID
    order_id: uuid.UUID
    symbol: str
    side: str
    quantity: AmountText
    price: AmountText
    charges: AmountText = Field(description="every charge of the fill (its commission)")
    executed_at: datetime


class AccountDashboard(BaseModel):
    """One account, every amount in its currency."""

    account_id: uuid.UUID
    broker: str
    currency: str
    cash: AmountText
    reserved_cash: AmountText = Field(description="cash held by working BUY orders")
    buying_power: AmountText
    equity: AmountText = Field(description="cash plus the positions at their marks (unmarked: at "
                                        "cost)")
    realized_pnl: AmountText
    unrealized_pnl: AmountText
    total_pnl: AmountText = Field(description="realized plus unrealized, as GET /positions marks")
    day_pnl: AmountText = Field(description="what the trades since `day_start` earned at today's "
                                         "marks, less their charges (quantity carried from "
                                         "earlier days is not counted)")
    open_orders: int = Field(description="orders not in a final state yet")
    exposure: list[PositionOut] = Field(description="the open positions, as GET /positions "
                                                    "lists them")
    last_fills: list[FillBrief] = Field(description="the newest fills, at most 5")


class CurrencyTotals(BaseModel):
    """The accounts of one currency, summed."""

    currency: str
    cash: AmountText
    equity: AmountText
    realized_pnl: AmountText
    unrealized_pnl: AmountText
    total_pnl: AmountText
    day_pnl: AmountText


class Dashboard(BaseModel):
    """Every account of yours, and sums per currency (amounts in two never add up)."""

    day_start: datetime = Field(description="the midnight that began today in your time zone")
    timezone: str = Field(description="your profile's time zone (GET /settings/profile)")
    accounts: list[AccountDashboard]
    totals: list[CurrencyTotals]
