"""Account and position bodies."""

from decimal import Decimal

from pydantic import BaseModel


class AccountOut(BaseModel):
    """Your paper account: cash, what is free to trade, and P&L."""

    cash: Decimal
    buying_power: Decimal
    equity: Decimal
    realized_pnl: Decimal
    unrealized_pnl: Decimal
    currency: str


class PositionOut(BaseModel):
    """A position marked to the last price."""

    symbol: str
    quantity: Decimal
    avg_price: Decimal
    market_price: Decimal | None
    market_value: Decimal | None
    unrealized_pnl: Decimal | None
    realized_pnl: Decimal
