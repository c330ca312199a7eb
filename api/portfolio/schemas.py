"""Bodies of the portfolio routes: every amount a decimal string in the currency beside it."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
)

from api.accounts.schemas import PositionOut
from api.orders.schemas import AmountText, Price, Quantity, Upper, _amount, _documented
from shared.domain.enums import Side
from shared.domain.names import MAX_NAME_LENGTH
from shared.domain.portfolio import portfolio_name
from shared.domain.values import MAX_NOTIONAL, ZERO

Charge = Annotated[Decimal, BeforeValidator(_amount(MAX_NOTIONAL)),
                   _documented(MAX_NOTIONAL, "in the account's currency, 0 or more")]


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


class TradeIn(BaseModel):
    """A trade done outside ordergate, all of it (PUT replaces every field)."""

    model_config = ConfigDict(extra="forbid")

    symbol: Annotated[str, Upper, Field(min_length=1, max_length=32,
                                        description="in the instrument master")]
    side: Annotated[Side, Upper]
    quantity: Quantity
    price: Price
    executed_at: Annotated[AwareDatetime, Field(description="when it was done, with its time "
                                                            "zone; not in the future")]
    brokerage_charge: Annotated[Charge, Field(description="the broker's brokerage")] = ZERO
    mtf_charge: Annotated[Charge, Field(description="margin trading facility interest")] = ZERO
    type: Literal["eq", "fno"] = Field(default="eq", description="equity, or futures and "
                                                                 "options")
    notes: Annotated[str | None, Field(max_length=1000, pattern=r"^[^\x00-\x08\x0b-\x1f\x7f]*$",
                                       description="free text; no control characters but "
                                                   "tab and newline")] = None
    account_id: uuid.UUID | None = Field(default=None, description="the account it booked in "
                                                                   "(its currency must be the "
                                                                   "instrument's); default: "
                                                                   "paper")
    portfolio_id: uuid.UUID | None = Field(default=None, description="one of your portfolios: "
                                                                     "the trade rolls up under "
                                                                     "it")


class TradeOut(BaseModel):
    """A journaled trade."""

    id: uuid.UUID
    account_id: uuid.UUID
    symbol: str
    side: Side
    quantity: AmountText
    price: AmountText
    executed_at: datetime
    brokerage_charge: AmountText
    mtf_charge: AmountText
    type: Literal["eq", "fno"]
    notes: str | None
    source: Literal["manual", "tradebook"] = Field(description="typed in, or imported from a "
                                                               "tradebook")
    external_id: str | None = Field(description="the broker's trade id of an imported trade")
    portfolio_id: uuid.UUID | None = Field(description="the portfolio it rolls up under")
    created_at: datetime
    updated_at: datetime


class TradePage(BaseModel):
    """A page of trades, the latest executed first."""

    items: list[TradeOut]
    next_cursor: str | None


class TradebookImported(BaseModel):
    """What an import journaled."""

    account_id: uuid.UUID
    trades: int = Field(description="the trades of the file")
    imported: int = Field(description="journaled now")
    already_journaled: int = Field(description="trade ids the account already had: unchanged")


class PnlRow(BaseModel):
    """What one symbol of one account realized in the period."""

    account_id: uuid.UUID
    broker: str
    currency: str
    symbol: str
    trades: int = Field(description="fills and journaled trades in the period")
    realized_pnl: AmountText
    charges: AmountText = Field(description="fills' commission, journal brokerage and MTF")
    net_pnl: AmountText = Field(description="realized P&L less charges")


class PnlTotals(BaseModel):
    """The rows of one currency, summed."""

    currency: str
    realized_pnl: AmountText
    charges: AmountText
    net_pnl: AmountText


class PnlReport(BaseModel):
    """Realized P&L per account and symbol over a period."""

    from_: datetime | None = Field(alias="from")
    to: datetime
    items: list[PnlRow]
    totals: list[PnlTotals]


# --- Portfolios: named groups of orders and journaled trades -----------------------------------

PortfolioName = Annotated[
    str, Field(min_length=1, max_length=4 * MAX_NAME_LENGTH, examples=["Long term"],
               description=f"1 to {MAX_NAME_LENGTH} characters, unique among your portfolios"
                           " whatever their case; white space is trimmed and collapsed"),
    AfterValidator(portfolio_name)]
Description = Annotated[str | None, Field(
    max_length=1000, pattern=r"^[^\x00-\x08\x0b-\x1f\x7f]*$",
    description="free text; no control characters but tab and newline")]


class CreatePortfolio(BaseModel):
    """A new portfolio."""

    model_config = ConfigDict(extra="forbid")

    name: PortfolioName
    description: Description = None


class PatchPortfolio(BaseModel):
    """What to change of a portfolio: the fields given (a null description clears it)."""

    model_config = ConfigDict(extra="forbid")

    name: PortfolioName | None = None
    description: Description = None


class PortfolioOut(BaseModel):
    """A portfolio, without its positions (GET /portfolios/{portfolio_id} adds them)."""

    id: uuid.UUID
    name: str
    description: str | None
    created_at: datetime
    updated_at: datetime


class PortfolioPage(BaseModel):
    """A page of your portfolios, newest first."""

    items: list[PortfolioOut]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on "
                                                "the last page")


class PortfolioAccount(BaseModel):
    """The portfolio's positions in one account, summed in its currency."""

    account_id: uuid.UUID
    broker: str
    currency: str
    market_value: AmountText = Field(description="the positions at their marks (unmarked: at "
                                                 "cost)")
    realized_pnl: AmountText
    unrealized_pnl: AmountText
    total_pnl: AmountText = Field(description="realized plus unrealized")
    charges: AmountText = Field(description="fills' commission, journal brokerage and MTF")


class PortfolioTotals(BaseModel):
    """The portfolio's accounts of one currency, summed."""

    currency: str
    market_value: AmountText
    realized_pnl: AmountText
    unrealized_pnl: AmountText
    total_pnl: AmountText
    charges: AmountText


class PortfolioDetail(PortfolioOut):
    """A portfolio with its positions and P&L, per account and per currency."""

    positions: list[PositionOut] = Field(description="per account and symbol, built from the "
                                                     "fills of the orders and the journaled "
                                                     "trades that name the portfolio")
    accounts: list[PortfolioAccount]
    totals: list[PortfolioTotals]


class HoldingOut(BaseModel):
    """A delivery holding as of the last settled trading day, in its account's currency."""

    account_id: uuid.UUID
    broker: str
    currency: str
    exchange: str
    symbol: str
    quantity: AmountText = Field(description="settled: delivered by the exchange")
    t1_quantity: AmountText = Field(description="bought, not settled yet (T+1 at NSE and "
                                                "BSE; SETTLEMENT_DAYS per exchange)")
    avg_price: AmountText
    last_price: AmountText | None = Field(description="the quote's last; null without one")
    market_value: AmountText | None = Field(description="quantity and t1_quantity at the last "
                                                        "price")
    unrealized_pnl: AmountText | None
    trading_day: date = Field(description="the trading day whose end these quantities are "
                                          "as of (local to the exchange)")


class HoldingPage(BaseModel):
    """A page of holdings by symbol, then account."""

    items: list[HoldingOut]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on "
                                                "the last page")


class HistoryPoint(BaseModel):
    """One account's part of a portfolio at the end of one trading day (its exchange's)."""

    day: date
    account_id: uuid.UUID
    broker: str
    currency: str
    market_value: AmountText
    realized_pnl: AmountText
    unrealized_pnl: AmountText
    total_pnl: AmountText


class HistoryTotal(BaseModel):
    """A portfolio's accounts of one currency at the end of one trading day, summed."""

    day: date
    currency: str
    market_value: AmountText
    realized_pnl: AmountText
    unrealized_pnl: AmountText
    total_pnl: AmountText


class PortfolioHistory(BaseModel):
    """A portfolio's end-of-day snapshots over a period, oldest first (at most 366 days, so
    one answer: no pages)."""

    period: Literal["1D", "1W", "1M", "1Y"]
    since: date = Field(description="the first local day the period covers at any exchange"
                                    " (per account, it ends with the last trading day its"
                                    " exchange has closed)")
    items: list[HistoryPoint]
    totals: list[HistoryTotal] = Field(description="per day and currency")


class AccountHistory(PortfolioHistory):
    """Your accounts' end-of-day snapshots over a period, oldest first: each account's market
    value and P&L per day, summed per currency (at most 366 days, so one answer: no pages)."""
