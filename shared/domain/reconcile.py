"""What our order should do when its broker reports a status: pure rules, no I/O.

Quantities come from fills (applied first, deduplicated by execution id); this decides only the
status move the broker's word justifies. Terminal states never regress, and a broker status the
table does not allow is a discrepancy for a person to look at, not something to force.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.domain import events as ev
from shared.domain.enums import OrderStatus
from shared.domain.orders import allows, is_terminal

_S = OrderStatus
_ENDINGS = frozenset({_S.CANCELED, _S.REJECTED, _S.EXPIRED})
_MOVABLE = _ENDINGS | {_S.ACCEPTED, _S.PENDING_CANCEL}


@dataclass(frozen=True, slots=True)
class StatusDecision:
    """The move to make (None: none), or the discrepancy to record."""

    target: OrderStatus | None = None
    discrepancy: str | None = None


def decide_status(ours: OrderStatus, theirs: OrderStatus) -> StatusDecision:
    """Our status after the broker reported `theirs` (fills already applied)."""
    if theirs is ours or theirs is _S.SUBMITTED:
        return StatusDecision()
    if is_terminal(ours):
        if is_terminal(theirs) and theirs is not _S.FILLED:
            return StatusDecision(discrepancy=f"the order is {ours} here but {theirs} at the "
                                              "broker")
        return StatusDecision()
    if theirs in (_S.FILLED, _S.PARTIALLY_FILLED):
        # Fills move these; reaching here means the broker reports fills we have not got yet.
        return StatusDecision()
    if theirs is _S.ACCEPTED and ours is not _S.SUBMITTED:
        # A working order stays as it is (partially filled, or a cancel still pending).
        return StatusDecision()
    if theirs in _MOVABLE and allows(ours, event_for(theirs, None)):
        return StatusDecision(target=theirs)
    return StatusDecision(discrepancy=f"the broker reports {theirs}, which an order that is "
                                      f"{ours} here cannot become")


def event_for(target: OrderStatus, message: str | None) -> ev.OrderEvent:
    """The event a broker-reported status is, with the broker's message as its reason."""
    if target is _S.ACCEPTED:
        return ev.Accepted(message)
    if target is _S.PENDING_CANCEL:
        return ev.CancelRequested()
    if target is _S.REJECTED:
        return ev.Rejected(message or "the broker rejected the order")
    if target is _S.CANCELED:
        return ev.Canceled(message)
    if target is _S.EXPIRED:
        return ev.Expired(message)
    raise ValueError(f"{target} is not a status a broker report moves an order to")
