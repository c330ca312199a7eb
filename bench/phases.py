"""The measured phases: reference, closed loop, open loop at 150/s, 2× overload, the gateway
and the worker each alone, one user, and the capacity search."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import sys
import time
import urllib.request
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from typing import Any

import asyncpg
from redis.asyncio import Redis

from bench import analysis, backlog, matching, procs, reference
from bench.loadgen import Spec
from bench.stack import HOST, ROOT, Stack
from shared.messaging import tasks

SYMBOLS = ["AAPL", "MSFT", "GOOGL", "AMZN", "NVDA", "META", "TSLA", "JPM"]
CLOSED_CONNECTIONS = 64
CLOSED_SECONDS = 10.0
WARMUP_SECONDS = 2.0
OPEN_RATE = 150.0
OPEN_SECONDS = 10.0
OPEN_CONNECTIONS = 16
OVERLOAD_SECONDS = 4.0
OVERLOAD_CONNECTIONS = 64
# The capacity search: open-loop steps from CAPACITY_START/s, ×1.5 while one holds, then
# CAPACITY_BISECTIONS halvings of the gap to the first that did not.
CAPACITY_START = 100.0
CAPACITY_GROWTH = 1.5
CAPACITY_MAX = 3000.0
CAPACITY_BISECTIONS = 2
CAPACITY_SECONDS = 5.0
CAPACITY_CONNECTIONS = 64
CAPACITY_FILL_P99_MS = 50.0
TERMINAL_TIMEOUT_S = 120.0  # bound on waiting for the worker to drain a phase
LOADGEN_SLACK_S = 60.0  # beyond its own duration, before the load generator is killed
HUGE_CASH = "1e12"  # NUMERIC(24,8) holds up to 1e16; buying power must never run out


# ---------------------------------------------------------------- the bench user


def _post_json(url: str, body: dict[str, str]) -> dict[str, Any]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        data: dict[str, Any] = json.loads(response.read())
        return data


def _new_user(api: str) -> tuple[str, str, str]:
    email, password = f"bench-{secrets.token_hex(6)}@example.com", secrets.token_urlsafe(16)
    user = _post_json(f"{api}/register", {"email": email, "password": password})
    return str(user["id"]), email, password


def _login(api: str, email: str, password: str) -> str:
    return str(_post_json(f"{api}/login", {"email": email, "password": password})
               ["access_token"])


def bench_users(stack: Stack, count: int) -> list[tuple[str, str]]:
    """Register users, fund their paper accounts without limit, log in; (id, token) each."""
    api = f"http://{HOST}:{stack.api_port}/api/v1/auth"
    # Threads: each register/login spends tens of ms hashing with argon2 on the server.
    with ThreadPoolExecutor(max_workers=min(count, 8)) as pool:
        users = list(pool.map(lambda _: _new_user(api), range(count)))
        asyncio.run(_fund(stack.dsn, [user_id for user_id, _, _ in users]))
        tokens = list(pool.map(lambda u: _login(api, u[1], u[2]), users))
    return [(user_id, token) for (user_id, _, _), token in zip(users, tokens, strict=True)]


async def _fund(dsn: str, user_ids: list[str]) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f"UPDATE accounts SET cash = {HUGE_CASH}"
                           " WHERE user_id = ANY($1::uuid[])", user_ids)
    finally:
        await conn.close()


# ---------------------------------------------------------------- load generator process


async def drive(spec: Spec) -> dict[str, Any]:
    """Run the load generator in its own process and return its result."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.loadgen", cwd=ROOT, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, start_new_session=True)
    try:
        out, _ = await asyncio.wait_for(
            proc.communicate(json.dumps(asdict(spec)).encode()),
            spec.warmup_s + spec.duration_s + LOADGEN_SLACK_S)
    finally:
        if proc.returncode is None:  # interrupted or timed out: never leave it running
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
    if proc.returncode != 0:
        raise procs.BenchError(f"the load generator failed with exit code {proc.returncode}")
    result: dict[str, Any] = json.loads(out)
    return result


class CpuMeter:
    """CPU seconds each component spent during one phase (where the 2 cores went).

    Counted per process: one started during the phase counts from zero, one that ended
    during it is left out (a PostgreSQL backend of a pool that closed a connection).
    """

    def __init__(self, stack: Stack) -> None:
        self._stack = stack
        self._start: dict[str, dict[int, float]] = {}
        self._wall = 0.0
        self.used: dict[str, float] = {}

    def __enter__(self) -> CpuMeter:
        self._start = self._sample()
        self._wall = time.monotonic()
        return self

    def __exit__(self, *_: object) -> None:
        self._wall = time.monotonic() - self._wall
        end = self._sample()
        self.used = {name: round(sum(seconds - self._start.get(name, {}).get(pid, 0.0)
                                     for pid, seconds in used.items()), 2)
                     for name, used in end.items()}

    def _sample(self) -> dict[str, dict[int, float]]:
        return {name: procs.cpu_seconds(pids) for name, pids in self._stack.cpu_groups().items()}

    @property
    def wall_s(self) -> float:
        """How long the phase took."""
        return round(self._wall, 2)


# ---------------------------------------------------------------- phases


def _spec(stack: Stack, tokens: list[str], prefix: str, **kwargs: Any) -> Spec:
    port, path = ((stack.api_port, "/api/v1/orders") if tokens
                  else (stack.reference_port, reference.PATH))
    return Spec(port=port, path=path, tokens=tokens, key_prefix=prefix, symbols=SYMBOLS,
                **kwargs)


async def reference_phase(stack: Stack) -> dict[str, Any]:
    """Closed loop against the yardstick: its requests per second."""
    print("==> reference endpoint, closed loop", flush=True)
    with CpuMeter(stack) as cpu:
        result = await drive(_spec(stack, [], "ref-", mode="closed",
                                   duration_s=CLOSED_SECONDS, warmup_s=WARMUP_SECONDS,
                                   connections=CLOSED_CONNECTIONS))
    result["cpu_s"] = {**cpu.used, "loadgen": result.pop("cpu_s")}
    result.pop("accepted_ids")
    return result


async def order_phase(stack: Stack, pool: asyncpg.Pool, prefix: str, spec: Spec) -> dict[str, Any]:
    """Drive POST /orders, wait for the worker, then read latency and exactly-once from the DB.

    The phase starts on an empty queue and its CPU figures run until its orders are all
    terminal, so they hold all the work its orders caused and none of another phase's.
    """
    await wait_drained(stack)
    with CpuMeter(stack) as cpu:
        async with backlog.sampled(stack.api_port) as queue:
            result = await drive(spec)
        load_end = time.time()
        result["listen_queue_peak"] = queue.value
        result["not_terminal"] = await analysis.wait_terminal(pool, prefix, TERMINAL_TIMEOUT_S)
    accepted = result.pop("accepted_ids")
    result["drain_s"] = round(time.time() - load_end, 2)
    result["fills"] = await analysis.fill_figures(pool, prefix, load_end)
    result["exactly_once"] = (await analysis.exactly_once(pool, prefix, accepted)).as_dict()
    result["cpu_s"] = {**cpu.used, "loadgen": result.pop("cpu_s")}
    result["cpu_ms_per_order"] = {
        name: round(1000 * seconds / len(accepted), 3) if accepted else None
        for name, seconds in result["cpu_s"].items()}
    result["load_wall_s"] = cpu.wall_s
    return result


async def wait_drained(stack: Stack) -> None:
    """Wait until no message waits in the orders queue (submits, matching doorbells).

    The previous phase's orders are all terminal by then; what may be left is redeliveries
    and doorbells, which would otherwise be served during this phase.
    """
    redis = Redis.from_url(stack.env["REDIS_URL"])
    deadline = time.monotonic() + TERMINAL_TIMEOUT_S
    try:
        while time.monotonic() < deadline:
            if await redis.llen(tasks.ORDERS_QUEUE) == 0:
                return
            await asyncio.sleep(0.2)
    finally:
        await redis.aclose()
    raise procs.BenchError(f"the worker did not drain its queue in {TERMINAL_TIMEOUT_S:.0f}s")


async def gateway_phase(stack: Stack, pool: asyncpg.Pool, spec: Spec) -> dict[str, Any]:
    """The closed loop with the worker stopped (SIGSTOP): the gateway alone. Then the worker,
    continued, drains what was accepted alone: its fills/s and CPU per order."""
    await wait_drained(stack)
    worker = stack.children["worker"].proc.pid
    os.killpg(worker, signal.SIGSTOP)
    try:
        with CpuMeter(stack) as cpu:
            result = await drive(spec)
    finally:
        os.killpg(worker, signal.SIGCONT)
    accepted = result.pop("accepted_ids")
    with CpuMeter(stack) as drained:
        result["not_terminal"] = await analysis.wait_terminal(pool, spec.key_prefix,
                                                              TERMINAL_TIMEOUT_S)
    result["exactly_once"] = (await analysis.exactly_once(pool, spec.key_prefix,
                                                          accepted)).as_dict()
    result["cpu_s"] = {**cpu.used, "loadgen": result.pop("cpu_s")}
    result["worker_alone"] = {
        "orders": len(accepted), "drain_s": drained.wall_s,
        "fills_per_s": round(len(accepted) / drained.wall_s, 1) if drained.wall_s else None,
        "cpu_s": drained.used,
        "cpu_ms_per_order": {name: round(1000 * seconds / len(accepted), 3) if accepted else None
                             for name, seconds in drained.used.items()}}
    return result


def holds(step: dict[str, Any]) -> bool:
    """Whether an open-loop step was sustained: every order accepted at the offered rate,
    none left unfilled, exactly once, and submit->FILLED p99 within CAPACITY_FILL_P99_MS."""
    statuses: dict[str, int] = step["statuses"]
    p99 = step["fills"]["submit_to_filled_ms"]["p99"]
    return (set(statuses) <= {"202"} and not any(step["errors"].values())
            and step["not_terminal"] == 0
            and step["exactly_once"]["ok"]
            and step["accepted_per_s"] >= 0.95 * step["offered_rate"]
            and p99 is not None and p99 <= CAPACITY_FILL_P99_MS)


async def search_capacity(attempt: Callable[[float], Awaitable[bool]]) -> float | None:
    """The highest rate `attempt` holds: from CAPACITY_START, ×CAPACITY_GROWTH while it holds
    (up to CAPACITY_MAX), then CAPACITY_BISECTIONS halvings of the gap to the lowest rate that
    did not; None when even the first rate does not hold."""
    held: float | None = None
    rate = CAPACITY_START
    while rate <= CAPACITY_MAX:
        if not await attempt(rate):
            break
        held, rate = rate, round(rate * CAPACITY_GROWTH)
    else:
        return held
    if held is None:
        return None
    failed = rate
    for _ in range(CAPACITY_BISECTIONS):
        middle = round((held + failed) / 2)
        if await attempt(middle):
            held = middle
        else:
            failed = middle
    return held


async def capacity_phase(stack: Stack, pool: asyncpg.Pool, tokens: list[str]) -> dict[str, Any]:
    """The highest open-loop rate the whole system sustains with submit->FILLED p99 within
    CAPACITY_FILL_P99_MS; each step starts on an empty queue."""
    steps: list[dict[str, Any]] = []

    async def attempt(rate: float) -> bool:
        print(f"==> capacity: open loop at {rate:.0f}/s", flush=True)
        prefix = f"cp{len(steps)}-"
        step = await order_phase(stack, pool, prefix, _spec(
            stack, tokens, prefix, mode="open", rate=rate, duration_s=CAPACITY_SECONDS,
            connections=CAPACITY_CONNECTIONS))
        step["held"] = holds(step)
        steps.append(step)
        return bool(step["held"])

    rate = await search_capacity(attempt)
    return {"rate": rate, "fill_p99_ms": CAPACITY_FILL_P99_MS, "steps": steps}


async def matching_phase(stack: Stack, user_ids: list[str]) -> dict[str, Any]:
    """The paper exchange's matching figure, on users and instruments of its own."""
    with CpuMeter(stack) as cpu:
        result = await matching.run(stack.env, stack.dsn, user_ids)
    result["cpu_s"] = cpu.used
    return result


async def run_all(stack: Stack, users: list[tuple[str, str]], matchers: list[str], *,
                  matching_only: bool = False) -> dict[str, Any]:
    """Every phase in order; the worker drains each before the next starts. `matchers` are
    the users whose orders rest on the matching phase's book (kept out of the books check);
    none: no matching phase."""
    if matching_only:
        return {"matching": await matching_phase(stack, matchers)}
    tokens = [token for _, token in users]
    results: dict[str, Any] = {"reference": await reference_phase(stack)}
    async with asyncpg.create_pool(stack.dsn, min_size=1, max_size=2) as pool:
        print("==> orders, closed loop", flush=True)
        results["closed"] = await order_phase(stack, pool, "cl-", _spec(
            stack, tokens, "cl-", mode="closed", duration_s=CLOSED_SECONDS,
            warmup_s=WARMUP_SECONDS, connections=CLOSED_CONNECTIONS))
        print(f"==> orders, open loop at {OPEN_RATE:.0f}/s", flush=True)
        results["open"] = await order_phase(stack, pool, "ol-", _spec(
            stack, tokens, "ol-", mode="open", rate=OPEN_RATE, duration_s=OPEN_SECONDS,
            connections=OPEN_CONNECTIONS))
        # Twice what the API sustained in the closed loop: it must shed, not queue for seconds.
        rate = 2 * max(results["closed"]["accepted_per_s"], OPEN_RATE)
        print(f"==> orders, overload at {rate:.0f}/s", flush=True)
        results["overload"] = await order_phase(stack, pool, "ov-", _spec(
            stack, tokens, "ov-", mode="open", rate=rate, duration_s=OVERLOAD_SECONDS,
            connections=OVERLOAD_CONNECTIONS))
        print("==> orders, closed loop with the worker stopped, then the worker alone",
              flush=True)
        results["gateway"] = await gateway_phase(stack, pool, _spec(
            stack, tokens, "gw-", mode="closed", duration_s=CLOSED_SECONDS,
            warmup_s=WARMUP_SECONDS, connections=CLOSED_CONNECTIONS))
        # One user: every order reserves cash on the same account row (the lock hot spot).
        print("==> orders, closed loop, 1 user", flush=True)
        results["closed_1"] = await order_phase(stack, pool, "c1-", _spec(
            stack, tokens[:1], "c1-", mode="closed", duration_s=CLOSED_SECONDS,
            warmup_s=WARMUP_SECONDS, connections=CLOSED_CONNECTIONS))
        results["capacity"] = await capacity_phase(stack, pool, tokens)
        results["books"] = await analysis.books_balance(pool, [u for u, _ in users])
    if matchers:
        results["matching"] = await matching_phase(stack, matchers)
    return results
