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
