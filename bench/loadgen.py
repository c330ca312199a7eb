"""The load generator: raw HTTP/1.1 keep-alive over asyncio streams, in its own process.

Run as `python -m bench.loadgen` with a JSON `Spec` on stdin; it prints a JSON result on
stdout. httpx would spend more CPU per request than the endpoint under test on this 2-core
machine, and `wrk` is not guaranteed to exist, so the client writes prebuilt request bytes and
parses only the status line and the few headers it needs.

Two modes:
- closed: N connections each send the next request as soon as the previous one answers
  (maximum throughput; latency from send to answer);
- open: requests fall due at fixed times whatever the server does, and latency counts from the
  due time, so a slow server cannot hide its queue (no coordinated omission).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import uvloop

from bench.stats import summary_ms

REQUEST_TIMEOUT_S = 10.0  # a request slower than this counts as an error, not a latency
DRAIN_GRACE_S = 15.0  # after the schedule ends, wait this long for answers in flight
SHED_STATUSES = (429, 503)


@dataclass(frozen=True)
class Spec:
    """What to send, where, and how."""

    port: int
    path: str
    tokens: list[str]  # one per bench user, used in turn; none for the reference
    key_prefix: str
    symbols: list[str]
    mode: str  # "closed" or "open"
    duration_s: float
    connections: int
    warmup_s: float = 0.0  # closed mode: answers before this are not counted
    rate: float = 0.0  # open mode: requests per second
    max_connections: int = 512  # open mode: the pool grows up to this when answers are slow


@dataclass
class Answer:
    """What the client needs from one HTTP response."""

    status: int
    location: str | None
    retry_after: bool
    replayed: bool
    close: bool


@dataclass
class Tally:
    """Everything counted during one run."""

    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)
    send_lag_ms: list[float] = field(default_factory=list)
    accepted_ids: list[str] = field(default_factory=list)
    shed_without_retry_after: int = 0
    replayed: int = 0
    counted: int = 0  # 2xx answers inside the measured window

    def record(self, answer: Answer, latency_ms: float, counted: bool) -> None:
        """Count one answer; only 2xx latencies are latencies of accepted work."""
        self.statuses[answer.status] += 1
        if answer.status in SHED_STATUSES and not answer.retry_after:
            self.shed_without_retry_after += 1
        if answer.replayed:
            self.replayed += 1
        if 200 <= answer.status < 300:
            if answer.location:
                self.accepted_ids.append(answer.location.rsplit("/", 1)[-1])
            if counted:
                self.counted += 1
                self.latencies_ms.append(latency_ms)


class Requests:
    """Builds request bytes: a template per user, a unique Idempotency-Key, a rotating symbol."""

    def __init__(self, spec: Spec) -> None:
        self._spec = spec
        self._seq = 0
        start = f"POST {spec.path} HTTP/1.1\r\nHost: 127.0.0.1:{spec.port}\r\n"
        auths = [f"Authorization: Bearer {token}\r\n" for token in spec.tokens] or [""]
        self._heads = [f"{start}{auth}Content-Type: application/json\r\n" for auth in auths]

    def next(self) -> bytes:
        """The next request: MARKET BUY 1 share, never the same key twice."""
        self._seq += 1
        symbol = self._spec.symbols[self._seq % len(self._spec.symbols)]
        head = self._heads[self._seq % len(self._heads)]
        body = (f'{{"symbol":"{symbol}","side":"BUY","order_type":"MARKET",'
                f'"quantity":"1"}}').encode()
        key = f"{self._spec.key_prefix}{self._seq}"
        return (f"{head}Idempotency-Key: {key}\r\nContent-Length: {len(body)}\r\n\r\n"
                ).encode() + body


class Connection:
    """One keep-alive HTTP/1.1 connection to 127.0.0.1."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        """Connect to the local server."""
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def exchange(self, request: bytes) -> Answer:
        """Send one request and read its whole answer."""
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        answer, length = _parse_head(head)
        if length:
            await self.reader.readexactly(length)
        return answer

    def close(self) -> None:
        """Drop the connection (after an error, or at the end)."""
        self.writer.close()


def _parse_head(head: bytes) -> tuple[Answer, int]:
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0][9:12])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if "content-length" not in headers:
        # Our endpoints always send a length; anything else would need chunked decoding.
        raise ValueError(f"answer {status} has no Content-Length")
    answer = Answer(
        status=status, location=headers.get("location"),
        retry_after="retry-after" in headers,
        replayed=headers.get("idempotent-replayed") == "true",
        close=headers.get("connection", "").lower() == "close",
    )
    return answer, int(headers["content-length"])


def _error_kind(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, asyncio.IncompleteReadError | ConnectionError):
        return "connection"
    return type(exc).__name__


# ---------------------------------------------------------------- closed loop


async def _closed_worker(spec: Spec, requests: Requests, tally: Tally, counted_from: float,
                         until: float) -> None:
    conn: Connection | None = None
    while time.perf_counter() < until:
        sent = time.perf_counter()
        try:
            conn = conn or await Connection.open(spec.port)
            # asyncio.timeout, not wait_for: no extra task per request in the client's budget.
            async with asyncio.timeout(REQUEST_TIMEOUT_S):
                answer = await conn.exchange(requests.next())
        except (OSError, ValueError, TimeoutError, asyncio.IncompleteReadError) as exc:
            tally.errors[_error_kind(exc)] += 1
            if conn is not None:
                conn.close()
            conn = None
            await asyncio.sleep(0.01)  # a refusing server must not turn this into a busy loop
            continue
        done = time.perf_counter()
        tally.record(answer, (done - sent) * 1000, counted_from <= sent and done <= until)
        if answer.close:
            conn.close()
            conn = None
    if conn is not None:
        conn.close()


async def run_closed(spec: Spec) -> dict[str, Any]:
    """Keep `connections` requests in flight for `duration_s` after a warm-up."""
    tally, requests = Tally(), Requests(spec)
    start = time.perf_counter()
    counted_from = start + spec.warmup_s
    until = counted_from + spec.duration_s
    await asyncio.gather(*(_closed_worker(spec, requests, tally, counted_from, until)
                           for _ in range(spec.connections)))
    return _result(tally, window_s=spec.duration_s)


# ---------------------------------------------------------------- open loop


class Pool:
    """Idle connections; grows up to a cap, then callers wait (and their latency shows it)."""

    def __init__(self, port: int, cap: int) -> None:
        self._port = port
        self._cap = cap
        self._opened = 0
        self._idle: asyncio.Queue[Connection] = asyncio.Queue()

    async def fill(self, count: int) -> None:
        """Open `count` connections ahead, so connects do not land in the measurement."""
        for _ in range(count):
            self._opened += 1
            self._idle.put_nowait(await Connection.open(self._port))

    async def acquire(self) -> Connection:
        """An idle connection, a new one under the cap, or the next one released."""
        if not self._idle.empty():
            return self._idle.get_nowait()
        if self._opened < self._cap:
            self._opened += 1
            try:
                return await Connection.open(self._port)
            except OSError:
                self._opened -= 1
                raise
        return await self._idle.get()

    def release(self, conn: Connection, healthy: bool) -> None:
        """Return a connection, or forget a broken one."""
        if healthy:
            self._idle.put_nowait(conn)
            return
        conn.close()
        self._opened -= 1

    def close(self) -> None:
        """Close every idle connection."""
        while not self._idle.empty():
            self._idle.get_nowait().close()

    @property
    def opened(self) -> int:
        """Connections opened and not yet dropped."""
        return self._opened


async def _fire(pool: Pool, request: bytes, due: float, tally: Tally) -> None:
    conn: Connection | None = None
    try:
        conn = await pool.acquire()
        tally.send_lag_ms.append((time.perf_counter() - due) * 1000)
        async with asyncio.timeout(REQUEST_TIMEOUT_S):
            answer = await conn.exchange(request)
    except (OSError, ValueError, TimeoutError, asyncio.IncompleteReadError) as exc:
        tally.errors[_error_kind(exc)] += 1
        if conn is not None:
            pool.release(conn, healthy=False)
        return
    tally.record(answer, (time.perf_counter() - due) * 1000, counted=True)
    pool.release(conn, healthy=not answer.close)


async def run_open(spec: Spec) -> dict[str, Any]:
    """Send `rate` requests per second for `duration_s`, each at its due time."""
    tally, requests = Tally(), Requests(spec)
    pool = Pool(spec.port, spec.max_connections)
    await pool.fill(spec.connections)
    total = int(spec.rate * spec.duration_s)
    interval = 1.0 / spec.rate
    start = time.perf_counter() + 0.05
    inflight: set[asyncio.Task[None]] = set()
    for i in range(total):
        due = start + i * interval
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(_fire(pool, requests.next(), due, tally))
        inflight.add(task)
        task.add_done_callback(inflight.discard)
    unfinished = await _drain(inflight)
    tally.errors["unfinished"] += unfinished
    result = _result(tally, window_s=spec.duration_s)
    result["connections_opened"] = pool.opened
    result["offered_rate"] = spec.rate
    pool.close()
    return result


async def _drain(inflight: set[asyncio.Task[None]]) -> int:
    if not inflight:
        return 0
    _, pending = await asyncio.wait(set(inflight), timeout=DRAIN_GRACE_S)
    for task in pending:
        task.cancel()
    return len(pending)


# ---------------------------------------------------------------- entry point


def _result(tally: Tally, window_s: float) -> dict[str, Any]:
    return {
        "statuses": {str(k): v for k, v in sorted(tally.statuses.items())},
        "errors": dict(tally.errors),
        "accepted_per_s": tally.counted / window_s,
        "latency_ms": summary_ms(tally.latencies_ms),
        "send_lag_ms": summary_ms(tally.send_lag_ms),
        "shed_without_retry_after": tally.shed_without_retry_after,
        "replayed": tally.replayed,
        "accepted_ids": tally.accepted_ids,
    }


async def run(spec: Spec) -> dict[str, Any]:
    """Run one load phase as specified."""
    if spec.mode == "closed":
        return await run_closed(spec)
    if spec.mode == "open":
        return await run_open(spec)
    raise ValueError(f"mode must be closed or open, was {spec.mode!r}")


def main() -> int:
    """Read a Spec as JSON on stdin, run it, print the result as JSON."""
    spec = Spec(**json.loads(sys.stdin.read()))
    result = uvloop.run(run(spec))
    result["cpu_s"] = time.process_time()  # the client's own cost, to judge its distortion
    sys.stdout.write(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
