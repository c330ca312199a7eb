"""An admin's deposit (+) or withdrawal (-) of a paper account's cash: what it may leave."""

from __future__ import annotations

from decimal import Decimal
from typing import Final

from shared.domain.errors import DomainError, InsufficientBuyingPower
from shared.domain.values import decimal_str

# Far inside the NUMERIC(24,8) column (16 integer digits): sums with fills still fit.
MAX_PAPER_CASH: Final = Decimal("1000000000000000")


class CashAdjustmentRefused(DomainError):
    kind = "invalid"
    default_code = "invalid_cash_adjustment"


def cash_after(cash: Decimal, reserved: Decimal, amount: Decimal) -> Decimal:
    """The account's cash once `amount` is added (a deposit) or taken (a withdrawal).

    A withdrawal never takes what open orders reserve: 422 with the figures. A deposit may
    also repair cash that fees took below the reservations, so only what it leaves is checked.
    """
    if amount == 0:
        raise CashAdjustmentRefused("amount must not be 0: a deposit is positive, a withdrawal"
                                    " negative", details={"field": "amount"})
    after = cash + amount
    if amount < 0 and after < reserved:
        withdrawable = max(cash - reserved, Decimal(0))
        raise InsufficientBuyingPower(
            f"withdrawing {decimal_str(-amount)} would leave {decimal_str(after)} of cash, below"
            f" the {decimal_str(reserved)} that open orders reserve; at most"
            f" {decimal_str(withdrawable)} can be withdrawn",
            details={"field": "amount", "amount": decimal_str(amount),
                     "cash": decimal_str(cash), "reserved_cash": decimal_str(reserved),
                     "withdrawable": decimal_str(withdrawable)})
    if after > MAX_PAPER_CASH:
        raise CashAdjustmentRefused(
            f"a paper account holds at most {decimal_str(MAX_PAPER_CASH)} of cash; this deposit"
            f" would make it {decimal_str(after)}", code="cash_limit_exceeded",
            details={"field": "amount", "limit": decimal_str(MAX_PAPER_CASH)})
    return after
