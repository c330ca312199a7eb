"""The stream fan-out's clients: many WebSocket streams in one process, apart from the API.

Run as `python -m bench.fanout_clients` with a JSON `ClientSpec` on the first line of stdin.
It connects every client (each resuming after the seq it is given), prints a `ready` line,
reads until a `final` line on stdin names each user's last seq, waits until every client has
that seq, and prints its result as one JSON line.

A user's seq is gapless and rises in commit order, so a client resuming after seq A of a user
whose last seq is F must receive exactly A+1..F, each once, in order: anything else is a
missing, duplicate or out-of-order event. A client the server closes reconnects with the
highest seq it has, as a real one would, and the count goes on.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import uvloop
import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidHandshake

LOG_TYPES = ("order", "fill")  # the events that carry a seq: the exactly-once ones
SNAPSHOT_TYPES = ("position", "account")
RETRY_FIRST_S, RETRY_MAX_S = 0.5, 10.0  # the console's reconnect back-off
OPEN_TIMEOUT_S = 30.0
SETTLE_S = 1.0  # after the last seq: the position and account snapshots that follow it


@dataclass(frozen=True)
class ClientPlan:
    """One stream: whose, resuming after which seq, following which symbols' quotes."""

    user_id: str
    token: str
    after: int
    symbols: list[str]


@dataclass(frozen=True)
class ClientSpec:
    """Where to connect and the clients of this process."""

    port: int
    clients: list[ClientPlan]
    connect_concurrency: int
    delivery_timeout_s: float


@dataclass(frozen=True)
class Delivery:
    """How one client's seqs compare with the log it should have received."""

    expected: int  # seqs in (after, final]
    delivered: int  # distinct seqs received in (after, final]
    missing: int  # expected and not received by the time the bench stopped waiting
    gaps: int  # of those, below the highest seq received: skipped, never to come
    duplicates: int  # receptions of a seq already received
    out_of_order: int  # seqs received after a higher one (duplicates not counted again)
    replayed: int  # distinct seqs at or below `after`, which the client said it had
    later: int  # distinct seqs above `final`: committed after it was read, not a fault


def delivery(after: int, final: int, seqs: Sequence[int]) -> Delivery:
    """Compare the seqs a client received, in arrival order, with (after, final]."""
    distinct = set(seqs)
    inside = {seq for seq in distinct if after < seq <= final}
    expected = max(final - after, 0)
    seen: set[int] = set()
    highest, out_of_order = after, 0
    for seq in seqs:
        if seq not in seen and seq < highest:
            out_of_order += 1
        seen.add(seq)
        highest = max(highest, seq)
    return Delivery(expected=expected, delivered=len(inside), missing=expected - len(inside),
                    gaps=max(inside, default=after) - after - len(inside),
                    duplicates=len(seqs) - len(distinct), out_of_order=out_of_order,
                    replayed=sum(seq <= after for seq in distinct),
                    later=sum(seq > final for seq in distinct))


@dataclass
class Received:
    """What one client got, with the receive time of each timed message."""

    seqs: list[int] = field(default_factory=list)
    fill_delay_ms: list[float] = field(default_factory=list)
    event_delay_ms: list[float] = field(default_factory=list)
    quote_delay_ms: list[float] = field(default_factory=list)
    quotes: int = 0
    quote_repeats: int = 0  # a quote_seq of a symbol not above the last one received
    snapshots: int = 0
    errors: int = 0
    first_at: float | None = None  # receive time of the first and last log event
    last_at: float | None = None
    quote_seqs: dict[str, int] = field(default_factory=dict)

    def take(self, message: dict[str, Any], now: float, *, timed: bool = True) -> None:
        """Count one message received at `now` (epoch seconds); `timed`: its delay too (not
        for the current quotes a subscribe answers with, which may be old)."""
        kind = message.get("type")
        if kind in LOG_TYPES:
            self.seqs.append(message["seq"])
            # `at` is order_events.created_at: now() of the committing transaction, which
            # began a few ms before its commit, so the delay is slightly overstated.
            delay = (now - _epoch(message["at"])) * 1000
            self.event_delay_ms.append(delay)
            if kind == "fill":
                self.fill_delay_ms.append(delay)
            self.first_at = self.first_at or now
            self.last_at = now
        elif kind == "quote":
            self.quotes += 1
            symbol, seq = message["symbol"], message["quote_seq"]
            if seq <= self.quote_seqs.get(symbol, -1):
                self.quote_repeats += 1
            else:
                self.quote_seqs[symbol] = seq
                if timed:
                    self.quote_delay_ms.append((now - _epoch(message["at"])) * 1000)
        elif kind in SNAPSHOT_TYPES:
            self.snapshots += 1
        elif kind == "error":
            self.errors += 1


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


class Client:
    """One stream of one user, reconnecting after its highest seq when the server closes it."""

    def __init__(self, port: int, plan: ClientPlan) -> None:
        self._url = f"ws://127.0.0.1:{port}/api/v1/stream"
        self.plan = plan
        self.got = Received()
        self.closes: Counter[str] = Counter()  # close code of each server-side end
        self.final: int | None = None
        self.done = asyncio.Event()
        self._ws: ClientConnection | None = None
        self._stopping = asyncio.Event()
        self._retry_s = RETRY_FIRST_S

    @property
    def last_seq(self) -> int:
        """The highest seq received (the resume point)."""
        return max(self.got.seqs, default=self.plan.after)

    async def connect(self) -> None:
        """Open the stream as the console does (auth, then an empty subscribe whose reply
        marks the session open), then subscribe to its symbols' quotes."""
        # permessage-deflate on, as every browser asks for it: its zlib cost is part of the
        # figure. No client pings: browsers send none.
        self._ws = ws = await websockets.connect(self._url, ping_interval=None,
                                                 open_timeout=OPEN_TIMEOUT_S)
        await ws.send(json.dumps({"action": "auth", "token": self.plan.token,
                                  "last_seq": self.last_seq}))
        await ws.send(json.dumps({"action": "subscribe", "symbols": self.plan.symbols}))
        while True:
            message = json.loads(await ws.recv())
            if message.get("type") == "subscribed":
                self._retry_s = RETRY_FIRST_S
                return
            self._take(message, timed=message.get("type") != "quote")

    async def receive(self) -> None:
        """Count messages until stopped; when the server ends the stream, reconnect after
        the console's back-off (0.5 s doubling up to 10 s, from the first after an open)."""
        while not self._stopping.is_set():
            try:
                if self._ws is None:
                    await self.connect()
                assert self._ws is not None
                async for raw in self._ws:
                    self._take(json.loads(raw))
                if self._stopping.is_set():
                    return
                self.closes[str(self._ws.close_code)] += 1
            except ConnectionClosed as closed:
                if self._stopping.is_set():
                    return
                self.closes[str(closed.rcvd.code if closed.rcvd else "no close frame")] += 1
            except (OSError, InvalidHandshake, TimeoutError) as error:
                self.closes[type(error).__name__] += 1
            self._ws = None
            await asyncio.sleep(self._retry_s)
            self._retry_s = min(2 * self._retry_s, RETRY_MAX_S)

    def _take(self, message: dict[str, Any], *, timed: bool = True) -> None:
        self.got.take(message, time.time(), timed=timed)
        if self.final is not None and self.last_seq >= self.final:
            self.done.set()

    def expect(self, final: int) -> None:
        """The user's last seq: the client is done once it has it."""
        self.final = final
        if self.last_seq >= final:
            self.done.set()

    async def close(self) -> None:
        """End the stream from this side."""
        self._stopping.set()
        if self._ws is not None:
            await self._ws.close()


def _raise_fd_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


async def _connect_all(clients: list[Client], concurrency: int) -> Counter[str]:
    gate = asyncio.Semaphore(concurrency)
    failed: Counter[str] = Counter()

    async def one(client: Client) -> None:
        async with gate:
            try:
                await client.connect()
            except (OSError, InvalidHandshake, TimeoutError, ConnectionClosed) as error:
                failed[type(error).__name__] += 1

    await asyncio.gather(*(one(client) for client in clients))
    return failed


def _emit(line: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(line) + "\n")
    sys.stdout.flush()


async def run(spec: ClientSpec) -> dict[str, Any]:
    """Connect, say ready, count until every client has its user's final seq, report."""
    _raise_fd_limit(2 * len(spec.clients) + 64)
    clients = [Client(spec.port, plan) for plan in spec.clients]
    started = time.monotonic()
    failed = await _connect_all(clients, spec.connect_concurrency)
    cpu_ready = time.process_time()
    _emit({"ready": len(clients) - sum(failed.values()), "connect_failed": dict(failed),
           "connect_s": round(time.monotonic() - started, 2)})
    receivers = [asyncio.create_task(client.receive()) for client in clients]
    finals: dict[str, int] = json.loads(await asyncio.to_thread(sys.stdin.readline))["final"]
    for client in clients:
        client.expect(finals[client.plan.user_id])
    waiting = [asyncio.create_task(client.done.wait()) for client in clients]
    _, unfinished = await asyncio.wait(waiting, timeout=spec.delivery_timeout_s)
    await asyncio.sleep(SETTLE_S)
    for waiter in unfinished:
        waiter.cancel()
    await asyncio.gather(*(client.close() for client in clients), return_exceptions=True)
    for task in receivers:
        task.cancel()
    await asyncio.gather(*receivers, return_exceptions=True)
    return _result(clients, finals, cpu_s=time.process_time() - cpu_ready,
                   unfinished=len(unfinished))


def _result(clients: list[Client], finals: dict[str, int], *, cpu_s: float,
            unfinished: int) -> dict[str, Any]:
    totals: Counter[str] = Counter()
    affected: Counter[str] = Counter()  # clients with at least one of each fault
    closes: Counter[str] = Counter()
    merged = Received()
    for client in clients:
        check = delivery(client.plan.after, finals[client.plan.user_id], client.got.seqs)
        for name, value in asdict(check).items():
            totals[name] += value
            affected[name] += value > 0
        closes.update(client.closes)
        got = client.got
        merged.fill_delay_ms += got.fill_delay_ms
        merged.event_delay_ms += got.event_delay_ms
        merged.quote_delay_ms += got.quote_delay_ms
        merged.quotes += got.quotes
        merged.quote_repeats += got.quote_repeats
        merged.snapshots += got.snapshots
        merged.errors += got.errors
    firsts = [c.got.first_at for c in clients if c.got.first_at is not None]
    lasts = [c.got.last_at for c in clients if c.got.last_at is not None]
    return {
        "clients": len(clients), "unfinished": unfinished,
        "totals": dict(totals), "clients_affected": dict(affected), "closes": dict(closes),
        "fill_delay_ms": [round(ms, 2) for ms in merged.fill_delay_ms],
        "event_delay_ms": [round(ms, 2) for ms in merged.event_delay_ms],
        "quote_delay_ms": [round(ms, 2) for ms in merged.quote_delay_ms],
        "quotes": merged.quotes, "quote_repeats": merged.quote_repeats,
        "snapshots": merged.snapshots, "errors": merged.errors,
        "first_at": min(firsts, default=None), "last_at": max(lasts, default=None),
        "cpu_s": round(cpu_s, 2),
    }


def main() -> int:
    """Read a ClientSpec as JSON on stdin's first line; print `ready`, then the result."""
    raw = json.loads(sys.stdin.readline())
    spec = ClientSpec(**{**raw, "clients": [ClientPlan(**plan) for plan in raw["clients"]]})
    _emit(uvloop.run(run(spec)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
