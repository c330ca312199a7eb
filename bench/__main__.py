"""`python -m bench` (`make bench`): start the stack, run every phase, print and save figures."""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import signal
import sys
import time
from types import FrameType
from typing import Any

from bench import fanout, matching, phases, procs, report, stack


def _positive(text: str) -> float:
    value = float(text)
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number, was {text}")
    return value


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--users", type=int, default=100, choices=range(1, 257), metavar="N",
        help="bench users the orders rotate over (default 100); a closed loop of the first "
             "user alone follows (every order reserves cash on the same account row, the "
             "worst case for lock contention)")
    only = parser.add_mutually_exclusive_group()
    only.add_argument(
        "--matching-only", action="store_true",
        help="run only the paper exchange's matching figure (10,000 and 100,000 resting orders)")
    only.add_argument(
        "--orders-only", action="store_true",
        help="run the reference and order phases, not the matching figure")
    only.add_argument(
        "--fanout-only", action="store_true",
        help="run only the stream fan-out (1,000 WebSocket clients while orders fill)")
    parser.add_argument(
        "--fanout-rate", type=_positive, default=fanout.RATE, metavar="R",
        help=f"orders per second during the stream fan-out (default {fanout.RATE:g})")
    return parser.parse_args(argv)


def _config(users: int, database: str, fanout_rate: float) -> dict[str, Any]:
    return {
        "users": users,
        "uvicorn": stack.UVICORN_FLAGS, "celery_concurrency": 2, "devstack_profile": stack.PROFILE,
        "database": database, "closed_connections": phases.CLOSED_CONNECTIONS,
        "closed_seconds": phases.CLOSED_SECONDS, "warmup_seconds": phases.WARMUP_SECONDS,
        "open_rate": phases.OPEN_RATE, "open_seconds": phases.OPEN_SECONDS,
        "overload_seconds": phases.OVERLOAD_SECONDS, "symbols": phases.SYMBOLS,
        "fanout": {**fanout.CONFIG, "rate": fanout_rate},
    }


def _terminate(signum: int, _frame: FrameType | None) -> None:
    # SIGTERM takes the same way out as Ctrl-C, so the stack is stopped either way.
    raise KeyboardInterrupt


def main(argv: list[str]) -> int:
    """Run the whole bench; exit 0 when it ran (targets missed or not), 1 when it failed."""
    args = _parse(argv)
    signal.signal(signal.SIGTERM, _terminate)
    started = time.monotonic()
    try:
        with stack.running() as running:
            database = running.database
            results: dict[str, Any] = {}
            if not args.fanout_only:
                users = phases.bench_users(running, args.users)
                matchers = ([] if args.orders_only else
                            [user for user, _ in phases.bench_users(running, matching.BUILDERS)])
                results = asyncio.run(phases.run_all(running, users, matchers,
                                                     matching_only=args.matching_only))
            if not (args.matching_only or args.orders_only):
                results["fanout"] = fanout.run(running, args.fanout_rate)
            print("==> stopping the stack", flush=True)
    except procs.BenchError as err:
        print(f"bench: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bench: interrupted; everything it started is stopped", file=sys.stderr)
        return 130
    lines = report.rows(results) + (fanout.rows(results["fanout"]) if "fanout" in results else [])
    out = stack.OUT_DIR / "last.json"
    report.write_json(out, results, lines, _config(args.users, database, args.fanout_rate))
    print(f"\nordergate bench: {args.users} user(s), uvicorn --workers 2, Celery concurrency 2,"
          f" {os.cpu_count()} CPUs")
    print(report.table(lines))
    if not args.matching_only:
        print()
        print(report.cpu_table(results))
    print(f"\nfull results: {out}  (bench took {time.monotonic() - started:.0f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
