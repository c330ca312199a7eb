"""`python -m bench.ratelimit`: what one request's budget checks cost the API process.

An order placement is held to three budgets (its address, its user or key, order placement),
counted in Redis by api.ratelimit.Limiter as the API counts them: the address's on arrival,
the other two together once the caller is known. This runs those two calls per simulated
request, sequentially, for users rotating over --users keys (each budget as shipped, none
refused), against the REDIS_URL of the settings, and prints the CPU time and wall time per
request. A figure of the process, not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid

from api import ratelimit
from shared.settings import Settings


async def _run(requests: int, users: int) -> tuple[float, float]:
    limiter = ratelimit.Limiter(Settings())
    run = uuid.uuid4().hex[:8]
    try:
        async def one(n: int) -> None:
            who = f"bench-{run}-{n % users}"
            address = await limiter.hit(ratelimit.IP, who)
            caller = await limiter.hit_all([(ratelimit.API, who), (ratelimit.ORDERS, who)])
            verdicts = [address, *caller]
            if len(verdicts) != 3 or not all(v is not None and v.allowed for v in verdicts):
                raise SystemExit("a budget was not counted or is spent")

        for n in range(min(users, requests)):  # connections made, scripts loaded
            await one(n)
        cpu, wall = time.process_time(), time.perf_counter()
        for n in range(requests):
            await one(n)
        return time.process_time() - cpu, time.perf_counter() - wall
    finally:
        await limiter.aclose()


def main() -> None:
    """Print the CPU and wall time of one request's three budget checks."""
    parser = argparse.ArgumentParser(prog="python -m bench.ratelimit", description=__doc__)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--users", type=int, default=100)
    args = parser.parse_args()
    # Under each budget's limit as shipped (ip 1200/minute, api 600, orders 300 per key).
    cpu, wall = asyncio.run(_run(args.requests, args.users))
    per = 1e6 / args.requests
    print(f"{args.requests} requests x 3 budgets, {args.users} users:"
          f" {cpu * per:.0f} us CPU and {wall * per:.0f} us wall per request")


if __name__ == "__main__":
    main()
