"""What the database says about a phase: fill latency, fill rate, exactly-once.

Figures come from PostgreSQL, the source of truth, not from polling the API (which would add
load and measure the cache). Each phase's orders are told apart by their Idempotency-Key prefix.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg

from bench.stats import summary_ms

TERMINAL = ("FILLED", "CANCELED", "REJECTED", "EXPIRED")
POLL_S = 0.5

# Submit→FILLED: orders.created_at is the accepting statement's start; the FILLED event's
# created_at is the start of the worker's fill transaction (both now()), so commit time of the
# fill (a few ms) is not in the figure.
_FILL_TIMES = """
    SELECT extract(epoch FROM e.created_at - o.created_at) * 1000 AS ms
    FROM orders o JOIN order_events e ON e.order_id = o.id AND e.to_status = 'FILLED'
    WHERE o.idempotency_key LIKE $1"""
_FILL_SPAN = """
    SELECT count(*) AS n, extract(epoch FROM max(f.created_at) - min(f.created_at)) AS span_s,
           count(*) FILTER (WHERE f.created_at > $2) AS after_load,
           extract(epoch FROM max(f.created_at) - $2) AS after_load_s
    FROM fills f JOIN orders o ON o.id = f.order_id WHERE o.idempotency_key LIKE $1"""
_PER_ORDER = """
    SELECT o.id::text AS id, o.status,
           (SELECT count(*) FROM fills f WHERE f.order_id = o.id) AS fills,
           (SELECT count(*) FROM order_events e WHERE e.order_id = o.id
              AND e.to_status = 'FILLED') AS filled_events
    FROM orders o WHERE o.idempotency_key LIKE $1"""


@dataclass
class ExactlyOnce:
    """Every accepted order FILLED, with exactly one fill and one FILLED event."""

    accepted: int = 0
    in_database: int = 0
    lost: list[str] = field(default_factory=list)  # answered 202, no row
    not_filled: dict[str, int] = field(default_factory=dict)  # status → count
    wrong_fill_count: int = 0  # orders with 0 or >1 fill rows
    doubled_events: int = 0  # orders with more than one FILLED event
    duplicate_acks: int = 0  # the same order id answered twice
    unacknowledged: int = 0  # rows the client never saw a 202 for (timeouts): still checked

    @property
    def ok(self) -> bool:
        """True when nothing was lost, left unfilled or executed twice."""
        return not (self.lost or self.not_filled or self.wrong_fill_count
                    or self.doubled_events or self.duplicate_acks)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, with the verdict and at most a few example ids."""
        data = asdict(self)
        data["lost"] = self.lost[:10]
        data["lost_count"] = len(self.lost)
        data["ok"] = self.ok
        return data


async def wait_terminal(pool: asyncpg.Pool, prefix: str, timeout: float) -> int:
    """Wait until every order of the phase is terminal; return how many are still not."""
    deadline = time.monotonic() + timeout
    while True:
        waiting: int = await pool.fetchval(
            "SELECT count(*) FROM orders WHERE idempotency_key LIKE $1"
            " AND status <> ALL($2::text[])", prefix + "%", list(TERMINAL))
        if waiting == 0 or time.monotonic() > deadline:
            return waiting
        await asyncio.sleep(POLL_S)


async def fill_figures(pool: asyncpg.Pool, prefix: str, load_end: float) -> dict[str, Any]:
    """Submit→FILLED percentiles and fills/s (whole span, and the drain after the load)."""
    rows = await pool.fetch(_FILL_TIMES, prefix + "%")
    span = await pool.fetchrow(_FILL_SPAN, prefix + "%", _timestamp(load_end))
    n, span_s = span["n"], float(span["span_s"] or 0)
    drain_s = float(span["after_load_s"] or 0)
    return {
        "filled": n,
        "submit_to_filled_ms": summary_ms([float(r["ms"]) for r in rows]),
        "fills_per_s": n / span_s if span_s > 0 else None,
        # Fills after the load stopped: the worker alone, without the API competing for CPU.
        "drain_fills_per_s": span["after_load"] / drain_s if drain_s > 1 else None,
    }


def _timestamp(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


async def exactly_once(pool: asyncpg.Pool, prefix: str,
                       accepted_ids: Sequence[str]) -> ExactlyOnce:
    """Compare what the client was told with what the database holds."""
    rows = await pool.fetch(_PER_ORDER, prefix + "%")
    by_id = {r["id"]: r for r in rows}
    acked = set(accepted_ids)
    check = ExactlyOnce(accepted=len(acked), in_database=len(by_id),
                        duplicate_acks=len(accepted_ids) - len(acked),
                        unacknowledged=len(set(by_id) - acked))
    check.lost = sorted(acked - set(by_id))
    for row in rows:
        if row["status"] != "FILLED":
            check.not_filled[row["status"]] = check.not_filled.get(row["status"], 0) + 1
        check.wrong_fill_count += row["fills"] != 1
        check.doubled_events += row["filled_events"] > 1
    return check


async def books_balance(pool: asyncpg.Pool, user_ids: list[str]) -> dict[str, Any]:
    """After all phases: no reservation left behind, positions equal the fills."""
    reserved = await pool.fetchval(
        "SELECT sum(reserved_cash) FROM accounts WHERE user_id = ANY($1::uuid[])", user_ids)
    mismatched = await pool.fetch(
        """SELECT p.symbol FROM positions p LEFT JOIN fills f
             ON f.account_id = p.account_id AND f.symbol = p.symbol
           WHERE p.user_id = ANY($1::uuid[]) GROUP BY p.account_id, p.symbol, p.quantity
           HAVING p.quantity <> coalesce(sum(f.quantity), 0)""", user_ids)
    return {"reserved_cash_left": str(reserved),
            "positions_not_matching_fills": len(mismatched),
            "ok": reserved == 0 and not mismatched}
