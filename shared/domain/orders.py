"""The order lifecycle as one table, and fill accounting on an order's execution state.

No code path changes an order's status except through `transition` (directly or via `apply_fill`).
"""

from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from types import MappingProxyType
from typing import Final

from shared.domain.enums import OrderStatus
from shared.domain.errors import InvalidOrder, InvalidTransition, OverFill
from shared.domain.values import ARITHMETIC, PRICE_PLACES, require_decimal

_S = OrderStatus

TRANSITIONS: Final[Mapping[OrderStatus, frozenset[OrderStatus]]] = MappingProxyType(
    {
        _S.PENDING_NEW: frozenset({_S.SUBMITTED, _S.REJECTED, _S.CANCELED}),
        _S.SUBMITTED: frozenset(
            {
                _S.ACCEPTED,
                _S.PARTIALLY_FILLED,
                _S.FILLED,
                _S.REJECTED,
                _S.PENDING_CANCEL,
                _S.CANCELED,
                _S.EXPIRED,
            }
        ),
        _S.ACCEPTED: frozenset(
            {_S.PARTIALLY_FILLED, _S.FILLED, _S.PENDING_CANCEL, _S.CANCELED, _S.EXPIRED}
        ),
        _S.PARTIALLY_FILLED: frozenset(
            {_S.PARTIALLY_FILLED, _S.FILLED, _S.PENDING_CANCEL, _S.CANCELED, _S.EXPIRED}
        ),
        _S.PENDING_CANCEL: frozenset(
            {
                _S.PENDING_CANCEL,  # repeated cancel requests
                _S.ACCEPTED,  # the broker rejected the cancel
                _S.PARTIALLY_FILLED,  # fills racing the cancel are real
                _S.FILLED,  # "too late to cancel"
                _S.CANCELED,
                _S.EXPIRED,
            }
        ),
        _S.FILLED: frozenset(),
        _S.CANCELED: frozenset(),
        _S.REJECTED: frozenset(),
        _S.EXPIRED: frozenset(),
    }
)

TERMINAL_STATUSES: Final = frozenset(s for s, targets in TRANSITIONS.items() if not targets)
# A real exchange may report a fill after it confirmed a cancel or an expiry (the fill raced
# it). The fill happened and must be booked; the order keeps its final status.
LATE_FILL_STATUSES: Final = frozenset({_S.CANCELED, _S.EXPIRED})
OPEN_STATUSES: Final = frozenset(OrderStatus) - TERMINAL_STATUSES


def is_terminal(status: OrderStatus) -> bool:
    """Tell whether an order in `status` can never change again."""
    return status in TERMINAL_STATUSES


def can_transition(current: OrderStatus, target: OrderStatus) -> bool:
    """Tell whether the table allows an order to move from `current` to `target`."""
    return target in TRANSITIONS[current]


def transition(current: OrderStatus, target: OrderStatus) -> OrderStatus:
    """Return `target` if the table allows the move from `current`; raise InvalidTransition."""
    if not can_transition(current, target):
        reason = "it is final" if is_terminal(current) else "the move is not allowed"
        raise InvalidTransition(
            f"order cannot move from {current} to {target}: {reason}",
            details={"field": "status", "from_status": str(current), "to_status": str(target)},
        )
    return target


@dataclass(frozen=True, slots=True)
class Execution:
    """An order's execution state: ordered and filled quantity, average fill price, status."""

    quantity: Decimal
    filled_quantity: Decimal
    avg_fill_price: Decimal | None
    status: OrderStatus

    def __post_init__(self) -> None:
        require_decimal(self.quantity, field="quantity")
        require_decimal(self.filled_quantity, field="filled_quantity")
        if self.avg_fill_price is not None:
            require_decimal(self.avg_fill_price, field="avg_fill_price")
        if self.quantity <= 0:
            raise ValueError(f"quantity must be positive, was {self.quantity}")
        if not 0 <= self.filled_quantity <= self.quantity:
            raise ValueError(
                f"filled_quantity must be between 0 and the quantity {self.quantity}, "
                f"was {self.filled_quantity}"
            )


def leaves(state: Execution) -> Decimal:
    """Return the quantity not yet filled (the caller decides what it means once terminal)."""
    with localcontext(ARITHMETIC):
        return state.quantity - state.filled_quantity


def apply_fill(state: Execution, qty: Decimal, price: Decimal) -> Execution:
    """Return the execution state after a fill of `qty` at `price`, or raise.

    A late fill on a CANCELED or EXPIRED order is booked and the status stays. Raises
    InvalidTransition when the order is otherwise terminal, InvalidOrder when `qty` or `price`
    is not positive, and OverFill when `qty` exceeds the unfilled quantity.
    """
    require_decimal(qty, field="quantity")
    require_decimal(price, field="price")
    if is_terminal(state.status) and state.status not in LATE_FILL_STATUSES:
        raise InvalidTransition(
            f"cannot fill an order that is already {state.status}",
            details={"field": "status", "from_status": str(state.status)},
        )
    if qty <= 0:
        raise InvalidOrder(
            f"fill quantity must be positive, was {qty}", details={"field": "quantity"}
        )
    if price <= 0:
        raise InvalidOrder(f"fill price must be positive, was {price}", details={"field": "price"})
    remaining = leaves(state)
    if qty > remaining:
        raise OverFill(
            f"fill of {qty} exceeds the unfilled quantity {remaining} "
            f"(ordered {state.quantity}, filled {state.filled_quantity})",
            details={
                "field": "quantity",
                "fill_quantity": str(qty),
                "leaves_quantity": str(remaining),
            },
        )
    with localcontext(ARITHMETIC):
        filled = state.filled_quantity + qty
        previous_cost = state.filled_quantity * (state.avg_fill_price or 0)
        average = ((previous_cost + qty * price) / filled).quantize(
            PRICE_PLACES, rounding=ROUND_HALF_EVEN
        )
    if state.status in LATE_FILL_STATUSES:
        target = state.status
    else:
        target = transition(state.status, OrderStatus.FILLED if filled == state.quantity
                            else OrderStatus.PARTIALLY_FILLED)
    return replace(state, filled_quantity=filled, avg_fill_price=average, status=target)
