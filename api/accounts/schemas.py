"""Account and position bodies: every amount is in the currency named beside it."""

import uuid
from decimal import Decimal

from pydantic import BaseModel, Field


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
