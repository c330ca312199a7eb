"""The bench's capacity figure: the highest open-loop rate the system holds, found in few steps."""

from __future__ import annotations

import pytest

from bench import phases


async def _search(limit: float) -> tuple[float | None, list[float]]:
    tried: list[float] = []

    async def attempt(rate: float) -> bool:
        tried.append(rate)
        return rate <= limit

    return await phases.search_capacity(attempt), tried


@pytest.mark.parametrize("limit", [120.0, 333.0, 700.0, 1000.0, 2500.0])
async def test_the_figure_is_a_rate_that_held_within_a_quarter_step_of_the_limit(
    limit: float,
) -> None:
    rate, tried = await _search(limit)

    assert rate is not None
    assert rate <= limit
    # Growth ×1.5 then two halvings: the gap left is at most an eighth of the last step.
    assert limit - rate <= rate * (phases.CAPACITY_GROWTH - 1) / 4 + 1
    assert len(tried) <= 14


async def test_a_system_that_holds_not_even_the_first_rate_has_no_capacity() -> None:
    assert await _search(phases.CAPACITY_START - 1) == (None, [phases.CAPACITY_START])


async def test_a_system_faster_than_the_search_reports_the_highest_rate_tried() -> None:
    rate, tried = await _search(1e9)

    assert rate == max(tried)
    assert rate <= phases.CAPACITY_MAX
    assert rate * phases.CAPACITY_GROWTH > phases.CAPACITY_MAX


def _step(**changes: object) -> dict[str, object]:
    """An open-loop step as `order_phase` reports it: 500 orders at 100/s, all filled once."""
    step: dict[str, object] = {
        "statuses": {"202": 500}, "errors": {"unfinished": 0}, "not_terminal": 0,
        "exactly_once": {"ok": True}, "accepted_per_s": 100.0, "offered_rate": 100.0,
        "fills": {"submit_to_filled_ms": {"p99": 10.4}}}
    step.update(changes)
    return step


def test_a_step_with_every_order_filled_in_time_holds() -> None:
    # The load generator always reports its unfinished requests, as zero when there are none.
    assert phases.holds(_step())


@pytest.mark.parametrize("changes", [
    {"errors": {"unfinished": 3}},
    {"statuses": {"202": 490, "503": 10}},
    {"not_terminal": 1},
    {"exactly_once": {"ok": False}},
    {"accepted_per_s": 90.0},
    {"fills": {"submit_to_filled_ms": {"p99": phases.CAPACITY_FILL_P99_MS + 1}}},
    {"fills": {"submit_to_filled_ms": {"p99": None}}},
], ids=["unfinished", "shed", "not terminal", "doubled", "slow accept", "slow fill", "no fill"])
def test_a_step_that_lost_shed_or_lagged_does_not_hold(changes: dict[str, object]) -> None:
    assert not phases.holds(_step(**changes))
