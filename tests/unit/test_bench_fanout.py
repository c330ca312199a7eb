"""The fan-out bench's statistics: what a client received against the log it should have."""

from __future__ import annotations

from typing import Any

from bench.fanout import merge
from bench.fanout_clients import Delivery, Received, delivery


def test_every_seq_once_in_order_is_clean() -> None:
    assert delivery(10, 14, [11, 12, 13, 14]) == Delivery(
        expected=4, delivered=4, missing=0, gaps=0, duplicates=0, out_of_order=0, replayed=0,
        later=0)


def test_a_gap_is_missing_and_a_repeat_is_a_duplicate() -> None:
    check = delivery(0, 5, [1, 2, 2, 4, 5])
    assert (check.missing, check.gaps, check.duplicates, check.delivered) == (1, 1, 1, 4)
    assert check.out_of_order == 0  # a repeat is counted once, as a duplicate


def test_events_not_yet_arrived_are_missing_but_no_gap() -> None:
    check = delivery(0, 5, [1, 2])
    assert (check.missing, check.gaps) == (3, 0)


def test_a_seq_after_a_higher_one_is_out_of_order() -> None:
    check = delivery(0, 4, [1, 3, 2, 4])
    assert (check.out_of_order, check.missing, check.duplicates) == (1, 0, 0)


def test_seqs_at_or_below_the_resume_point_are_replays() -> None:
    check = delivery(3, 5, [3, 4, 5])
    assert (check.replayed, check.delivered, check.missing) == (1, 2, 0)


def test_seqs_above_the_final_one_are_later_not_missing() -> None:
    check = delivery(0, 2, [1, 2, 3])
    assert (check.later, check.expected, check.missing) == (1, 2, 0)


def test_a_client_of_a_user_without_new_events_expects_nothing() -> None:
    assert delivery(7, 7, []) == Delivery(0, 0, 0, 0, 0, 0, 0, 0)


def test_an_old_quote_repeated_is_counted_and_not_timed() -> None:
    got = Received()
    quote = {"type": "quote", "symbol": "AAPL", "quote_seq": 4,
             "at": "2026-01-01T00:00:00+00:00"}
    got.take(quote, now=1767225600.0, timed=False)  # a subscribe's current quote
    got.take(quote, now=1767225601.0)  # the feed hands out the same quote again
    got.take({**quote, "quote_seq": 5, "at": "2026-01-01T00:00:01.5+00:00"}, now=1767225601.75)
    assert (got.quotes, got.quote_repeats) == (3, 1)
    assert got.quote_delay_ms == [250.0]


def test_a_fill_is_timed_from_its_event_timestamp() -> None:
    got = Received()
    got.take({"type": "fill", "seq": 9, "at": "2026-01-01T00:00:00+00:00"}, now=1767225600.02)
    got.take({"type": "order", "seq": 10, "at": "2026-01-01T00:00:00+00:00"},
             now=1767225600.03)
    assert got.seqs == [9, 10]
    assert [round(ms) for ms in got.fill_delay_ms] == [20]
    assert [round(ms) for ms in got.event_delay_ms] == [20, 30]


def _part(**overrides: Any) -> dict[str, Any]:
    return {"clients": 2, "unfinished": 0, "totals": {"delivered": 10, "missing": 0},
            "clients_affected": {"missing": 0}, "closes": {}, "fill_delay_ms": [1.0],
            "event_delay_ms": [1.0, 2.0], "quote_delay_ms": [], "quotes": 3,
            "quote_repeats": 0, "snapshots": 4, "errors": 0, "first_at": 100.0,
            "last_at": 104.0, "cpu_s": 1.5, **overrides}


def test_merge_sums_counts_and_spans_every_process() -> None:
    merged = merge([_part(), _part(totals={"delivered": 30, "missing": 1},
                                   clients_affected={"missing": 1}, closes={"1011": 2},
                                   first_at=101.0, last_at=110.0)])
    assert merged["totals"] == {"delivered": 40, "missing": 1}
    assert merged["clients_affected"] == {"missing": 1}
    assert merged["closes"] == {"1011": 2}
    assert merged["delivery_span_s"] == 10.0
    assert merged["events_per_s"] == 4.0
    assert merged["messages_delivered"] == 40 + 2 * (3 + 4)
    assert merged["cpu_s"] == 3.0
