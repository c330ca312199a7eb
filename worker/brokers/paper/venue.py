"""The paper exchange's setting: its clock, its trading calendar, its slippage, its quotes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.clock import Clock, calendar_from, clock_from
from shared.domain.fees import FeeSchedule
from shared.domain.sessions import Calendar
from shared.settings import Settings
from worker.brokers.paper.matching import Quote, Slippage


@dataclass(frozen=True, slots=True)
class Venue:
    """What the paper exchange trades by, from the settings of the process (or a test's)."""

    clock: Clock
    calendar: Calendar
    slippage: Slippage
    fees: FeeSchedule  # the brokerage each fill pays (PAPER_FEE_PROFILE)

    @classmethod
    def of(cls, settings: Settings) -> Venue:
        """The venue `settings` describe (cheap: built per transaction)."""
        return cls(clock_from(settings), calendar_from(settings),
                   Slippage(bps=settings.paper_slippage_bps, seed=settings.paper_slippage_seed),
                   settings.paper_fees)

    def now(self) -> datetime:
        """The paper exchange's time: the settings' clock (tests may shift it)."""
        return self.clock.now()

    def trading_open(self, exchange: str, at: datetime) -> bool:
        """THE one check, at submission and in matching alike: does the paper exchange trade
        `exchange`'s instruments at `at`? No fill, trigger or water mark happens otherwise.

        The trading calendar (PAPER_ALWAYS_OPEN, SESSION_HOURS, SESSION_HOLIDAYS) decides; an
        exchange it has no hours for never trades here.
        """
        return self.calendar.knows(exchange) and self.calendar.is_open(exchange, at)


def quote_of(row: Mapping[Any, Any]) -> Quote:
    """The matching rules' quote from a locked quote row (market.lock_quotes)."""
    return Quote(bid=row["bid"], ask=row["ask"], last=row["last"], bid_size=row["bid_size"],
                 ask_size=row["ask_size"], seq=row["seq"], tick=row["tick_size"])
