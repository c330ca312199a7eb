"""The stream fan-out phase: 1,000 WebSocket clients while orders fill at a steady rate.

The clients (bench.fanout_clients, in processes of their own) spread over USERS users of
their own, CLIENTS_PER_USER streams each, and every tenth also follows the quotes of the
bench's symbols, which tick QUOTE_TICKS_PER_S times a second. Once all are connected, the API
serves them idle for IDLE_SECONDS (what holding the streams costs), then the load generator
places MARKET orders at RATE/s for SECONDS through the real worker. Each client must receive
every event of its user's log exactly once, in order; the figures are events delivered per
second over all clients, the delay from each event's commit to its arrival, and the API's CPU
per 1,000 messages delivered.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import asyncpg

from bench import phases, procs
from bench.fanout_clients import ClientPlan, ClientSpec
from bench.loadgen import Spec
from bench.report import Row
from bench.stack import ROOT, Stack
from bench.stats import summary_ms

USERS = 100
CLIENTS = 1000
QUOTE_EVERY = 10  # every tenth client also follows the quotes of every bench symbol
CLIENT_PROCESSES = 2
CONNECT_CONCURRENCY = 50  # per client process
RATE = 10.0  # orders/s; `--fanout-rate` to change it
SECONDS = 10.0
CONNECTIONS = 8
IDLE_SECONDS = 3.0
QUOTE_TICKS_PER_S = 2.0
PREFIX = "fo-"
CONNECT_TIMEOUT_S = 120.0
DELIVERY_TIMEOUT_S = 30.0  # after the last order is terminal, for its events to arrive
FAULTS = ("missing", "gaps", "duplicates", "out_of_order", "replayed")

CONFIG = {"users": USERS, "clients": CLIENTS, "quote_every": QUOTE_EVERY,
          "client_processes": CLIENT_PROCESSES, "seconds": SECONDS,
          "idle_seconds": IDLE_SECONDS, "quote_ticks_per_s": QUOTE_TICKS_PER_S}


def plans(users: Sequence[tuple[str, str]], after: dict[str, int]) -> list[ClientPlan]:
    """CLIENTS streams over these users in turn, every QUOTE_EVERY-th following quotes."""
    return [ClientPlan(user_id=users[i % len(users)][0], token=users[i % len(users)][1],
                       after=after.get(users[i % len(users)][0], 0),
                       symbols=phases.SYMBOLS if i % QUOTE_EVERY == 0 else [])
            for i in range(CLIENTS)]


def merge(parts: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One result from the client processes': counts summed, delays pooled, span widened."""
    def total(key: str) -> dict[str, int]:
        keys = {name for part in parts for name in part[key]}
        return {name: sum(part[key].get(name, 0) for part in parts) for name in sorted(keys)}

    firsts = [p["first_at"] for p in parts if p["first_at"] is not None]
    lasts = [p["last_at"] for p in parts if p["last_at"] is not None]
    totals = total("totals")
    span = max(lasts) - min(firsts) if firsts and lasts else 0.0
    delivered = totals.get("delivered", 0)
    messages = delivered + sum(p["snapshots"] + p["quotes"] for p in parts)
    return {
        "clients": sum(p["clients"] for p in parts),
        "unfinished": sum(p["unfinished"] for p in parts),
        "totals": totals, "clients_affected": total("clients_affected"),
        "closes": total("closes"),
        "events_delivered": delivered, "messages_delivered": messages,
        "delivery_span_s": round(span, 3),
        "events_per_s": delivered / span if span > 0 else None,
        "fill_delay_ms": summary_ms([ms for p in parts for ms in p["fill_delay_ms"]]),
        "event_delay_ms": summary_ms([ms for p in parts for ms in p["event_delay_ms"]]),
        "quote_delay_ms": summary_ms([ms for p in parts for ms in p["quote_delay_ms"]]),
        "quotes": sum(p["quotes"] for p in parts),
        "quote_repeats": sum(p["quote_repeats"] for p in parts),
        "snapshots": sum(p["snapshots"] for p in parts),
        "errors": sum(p["errors"] for p in parts),
        "cpu_s": round(sum(p["cpu_s"] for p in parts), 2),
    }


# ---------------------------------------------------------------- client processes


class Clients:
    """The client processes: started, connected, told the final seqs, their results read."""

    def __init__(self) -> None:
        self._procs: list[asyncio.subprocess.Process] = []

    async def start(self, port: int, all_plans: list[ClientPlan]) -> list[dict[str, Any]]:
        """Start the processes with their share of the plans; their `ready` lines."""
        for n in range(CLIENT_PROCESSES):
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bench.fanout_clients", cwd=ROOT,
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                start_new_session=True, limit=2**26)
            self._procs.append(proc)
            spec = ClientSpec(port=port, clients=all_plans[n::CLIENT_PROCESSES],
                              connect_concurrency=CONNECT_CONCURRENCY,
                              delivery_timeout_s=DELIVERY_TIMEOUT_S)
            self._write(proc, asdict(spec))
        return [await self._line(proc, CONNECT_TIMEOUT_S) for proc in self._procs]

    async def finish(self, finals: dict[str, int]) -> list[dict[str, Any]]:
        """Send every user's last seq; each process's result once its clients have it."""
        for proc in self._procs:
            self._write(proc, {"final": finals})
        return [await self._line(proc, DELIVERY_TIMEOUT_S + 30) for proc in self._procs]

    @staticmethod
    def _write(proc: asyncio.subprocess.Process, line: dict[str, Any]) -> None:
        assert proc.stdin is not None
        proc.stdin.write(json.dumps(line).encode() + b"\n")

    @staticmethod
    async def _line(proc: asyncio.subprocess.Process, timeout: float) -> dict[str, Any]:
        assert proc.stdout is not None
        raw = await asyncio.wait_for(proc.stdout.readline(), timeout)
        if not raw:
            raise procs.BenchError(f"a fan-out client process exited with {await proc.wait()}")
        line: dict[str, Any] = json.loads(raw)
        return line

    async def stop(self) -> None:
        """Kill whatever is still running (interrupted, or failed)."""
        for proc in self._procs:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
            await proc.wait()


# ---------------------------------------------------------------- the phase


async def _seqs(pool: asyncpg.Pool, user_ids: list[str]) -> dict[str, int]:
    rows = await pool.fetch("SELECT user_id::text AS user_id, seq FROM stream_seqs"
                            " WHERE user_id = ANY($1::uuid[])", user_ids)
    found = {row["user_id"]: row["seq"] for row in rows}
    return {user_id: found.get(user_id, 0) for user_id in user_ids}


async def _tick_quotes(pool: asyncpg.Pool, stop: asyncio.Event) -> int:
    """A new quote of every bench symbol (seq + 1, now) at QUOTE_TICKS_PER_S; how many."""
    ticks = 0
    while not stop.is_set():
        for symbol in phases.SYMBOLS:
            # One row per statement: a fill locks quotes too, in symbol order.
            await pool.execute("UPDATE quotes SET seq = seq + 1, ts = now() WHERE symbol = $1",
                               symbol)
            ticks += 1
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1 / QUOTE_TICKS_PER_S)
    return ticks


async def phase(stack: Stack, users: list[tuple[str, str]], rate: float) -> dict[str, Any]:
    """Connect the clients, hold them idle, then load; every figure of the fan-out."""
    print(f"==> stream fan-out: {CLIENTS} WebSocket clients over {len(users)} users,"
          f" orders at {rate:g}/s", flush=True)
    user_ids = [user_id for user_id, _ in users]
    clients = Clients()
    async with asyncpg.create_pool(stack.dsn, min_size=1, max_size=2) as pool:
        try:
            ready = await clients.start(stack.api_port, plans(users, await _seqs(pool, user_ids)))
            with phases.CpuMeter(stack) as idle:
                await asyncio.sleep(IDLE_SECONDS)
            stop = asyncio.Event()
            with phases.CpuMeter(stack) as cpu:
                ticker = asyncio.create_task(_tick_quotes(pool, stop))
                spec = Spec(port=stack.api_port, path="/api/v1/orders",
                            tokens=[token for _, token in users], key_prefix=PREFIX,
                            symbols=phases.SYMBOLS, mode="open", rate=rate, duration_s=SECONDS,
                            connections=CONNECTIONS)
                orders = await phases.order_phase(stack, pool, PREFIX, spec)
                stop.set()
                ticks = await ticker
                streamed = merge(await clients.finish(await _seqs(pool, user_ids)))
        finally:
            await clients.stop()
    streamed["cpu_s"] = {**cpu.used, "clients": streamed["cpu_s"]}
    return {"rate": rate, "ready": ready, "idle_cpu_s": idle.used, "idle_s": idle.wall_s,
            "orders": orders, "quote_ticks": ticks, "load_wall_s": cpu.wall_s, **streamed}


def run(stack: Stack, rate: float = RATE) -> dict[str, Any]:
    """Register the phase's own users, then run it with orders at `rate` per second."""
    return asyncio.run(phase(stack, phases.bench_users(stack, USERS), rate))


# ---------------------------------------------------------------- report


def _pair(summary: dict[str, float | None]) -> str:
    return " / ".join("n/a" if summary[k] is None else f"{summary[k]:.1f}" for k in ("p50", "p99"))


def _answers(orders: dict[str, Any]) -> str:
    answers = {**orders["statuses"], **{k: n for k, n in orders["errors"].items() if n}}
    return ", ".join(f"{code}x{n}" for code, n in answers.items())


def rows(r: dict[str, Any]) -> list[Row]:
    """The fan-out's lines of the bench table."""
    connected = sum(part["ready"] for part in r["ready"])
    totals, affected, closes = r["totals"], r["clients_affected"], r["closes"]
    faults = " / ".join(str(totals.get(name, 0)) for name in FAULTS)
    ok = r["unfinished"] == 0 and not any(totals.get(name, 0) for name in FAULTS)
    api_s, delivered = r["cpu_s"].get("api", 0.0), r["messages_delivered"]
    idle_api = r["idle_cpu_s"].get("api", 0.0) / r["idle_s"] if r["idle_s"] else 0.0
    per_s = r["events_per_s"]
    return [
        Row(f"fan-out: WebSocket clients connected before the load ({USERS} users)",
            f"{connected}", f"{CLIENTS}", "PASS" if connected == CLIENTS else "MISS"),
        Row(f"fan-out: order events delivered/s, all clients ({r['rate']:g} orders/s)",
            "n/a" if per_s is None else f"{per_s:.0f}",
            f"{r['events_delivered']} in {r['delivery_span_s']:.1f}s", ""),
        Row("fan-out: order answers (status x count)", _answers(r["orders"]),
            f"{r['rate'] * SECONDS:.0f} offered", ""),
        Row("fan-out: fill commit->client p50 / p99 (ms)", _pair(r["fill_delay_ms"]),
            "from order_events.created_at", ""),
        Row("fan-out: any order event commit->client p50 / p99 (ms)",
            _pair(r["event_delay_ms"]), "", ""),
        Row("fan-out: missing / in gaps / duplicate / out-of-order / replayed",
            faults, "0 each (exactly once)", "PASS" if ok else "MISS"),
        Row("  clients with any missing / gap / duplicate; not done in time",
            f"{affected.get('missing', 0)} / {affected.get('gaps', 0)} /"
            f" {affected.get('duplicates', 0)}; {r['unfinished']}",
            f"waited {DELIVERY_TIMEOUT_S:.0f}s", ""),
        Row("fan-out: streams the server ended (close code x count)",
            ", ".join(f"{code}x{n}" for code, n in closes.items()) or "none", "none",
            "PASS" if not closes else "MISS"),
        Row("fan-out: quote tick->client p50 / p99 (ms)", _pair(r["quote_delay_ms"]),
            f"{r['quotes']} quotes, {r['quote_repeats']} repeated", ""),
        Row("fan-out: API CPU s per 1,000 messages delivered",
            "n/a" if not delivered else f"{1000 * api_s / delivered:.2f}",
            f"{delivered} messages, {api_s:.1f} s", ""),
        Row(f"fan-out: API CPU s per s, {CLIENTS} idle streams", f"{idle_api:.2f}", "", ""),
        Row("fan-out: client processes' CPU s",
            f"{r['cpu_s']['clients']:.1f}", f"of {r['load_wall_s']:.0f}s wall", ""),
    ]
