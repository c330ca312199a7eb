"""`python -m bench.data` (`make bench-data`): the read endpoints' server latency at data scale.

Loads (or reuses) the data set of bench.dataset in a database of its own, starts the API as the
other bench does (`python -m api.server`, 2 workers, production settings), and times each read
endpoint a few hundred times over many users. The figure is the SERVER's: each request carries
its own X-Request-ID, and its time is the `duration_ms` the API's access log gives that id
(from the request's arrival to its response's headers), not the client's round trip.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg
import httpx

from api.auth.passwords import hash_password_sync
from bench import dataset, procs, stack
from bench.stats import summary_ms

TARGET_MS = 20.0
PAGE = 50  # items per page of every list measured
CONCURRENCY = 2  # requests in flight: one per API worker
DATABASE_SUFFIX = "_bench_data"
API = "/api/v1"
LOG_WAIT_S = 5.0


@dataclass(frozen=True)
class Client:
    """A bench user signed in, with the cursors of its deepest pages."""

    token: str
    deep: dict[str, str]


Path_ = Callable[[int, Client], str]  # (request number, user) -> path and query


def _scale(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"not a number: {text}") from None
    if not (value.is_finite() and 0 < value <= 1):
        raise argparse.ArgumentTypeError(f"must be in (0, 1], was {text}")
    return value


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.data", description=__doc__)
    parser.add_argument("--scale", type=_scale, default=Decimal(1),
                        help="a fraction of the full data set (default 1: 1,000 users,"
                             " 1,000,000 orders and fills, 10,000,000 ticks)")
    parser.add_argument("--requests", type=int, default=300, metavar="N",
                        help="requests per endpoint (default 300)")
    parser.add_argument("--users", type=int, default=50, metavar="N",
                        help="bench users the requests rotate over (default 50)")
    parser.add_argument("--database", metavar="NAME",
                        help=f"the bench database (default <name>{DATABASE_SUFFIX} beside the"
                             " database DATABASE_URL names); reused when it holds this scale")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    """Load or reuse the data set, time every endpoint, print the table; 1 when it failed."""
    args = _parse(argv)
    try:
        with contextlib.ExitStack() as exits:
            urls = stack._start_servers(exits)
            name = args.database or (
                (urlsplit(urls["DATABASE_URL"]).path.lstrip("/") or "ordergate")
                + DATABASE_SUFFIX)
            database_url = stack._with_database(urls["DATABASE_URL"], name)
            redis_url = urls["REDIS_URL"]
            if "REDIS_URL" not in os.environ:
                redis_url = urlunsplit(urlsplit(redis_url)._replace(path=f"/{stack.REDIS_DB}"))
            env = {**stack._child_env(database_url, redis_url), "LOG_LEVEL": "INFO"}
            sizes = _prepare(env, database_url, name, args.scale)
            children: list[procs.Child] = []
            exits.callback(procs.stop, children)
            port = stack._free_port()
            api = procs.spawn("api-data", [stack.PY, "-m", "api.server", "--port", str(port),
                                           *stack.API_FLAGS], env, stack.ROOT,
                              stack.OUT_DIR / "logs")
            children.append(api)
            base = f"http://{stack.HOST}:{port}"
            procs.wait_http_ok(f"{base}/health", api, stack.START_TIMEOUT_S)
            rows = asyncio.run(_measure(base, api.log, sizes, args))
    except procs.BenchError as err:
        print(f"bench.data: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bench.data: interrupted; everything it started is stopped", file=sys.stderr)
        return 130
    out = stack.OUT_DIR / "data-last.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"scale": str(args.scale), "sizes": sizes.__dict__,
                               "requests": args.requests, "users": args.users,
                               "cpus": os.cpu_count(), "endpoints": rows}, indent=2))
    print(f"\nordergate bench.data: scale {args.scale} ({sizes.users:,} users,"
          f" {sizes.orders:,} orders and fills, {sizes.trades:,} trades,"
          f" {sizes.ticks:,} ticks), {args.requests} requests per endpoint over"
          f" {min(args.users, sizes.users)} users, {CONCURRENCY} in flight,"
          f" uvicorn --workers 2, {os.cpu_count()} CPUs")
    print(table(rows))
    print(f"\nfull results: {out}")
    return 0


# ---------------------------------------------------------------- the data set


def _prepare(env: dict[str, str], database_url: str, name: str, scale: Decimal) -> dataset.Sizes:
    dsn = stack._asyncpg_dsn(database_url)
    if asyncio.run(_holds(dsn, name, scale)):
        print(f"==> reusing {name}: it holds the data set at scale {scale}", flush=True)
        return dataset.Sizes.at(scale)
    asyncio.run(stack._recreate_database(dsn, name))
    stack._migrate(env, name)
    print(f"==> loading the data set at scale {scale} into {name}", flush=True)
    started = time.monotonic()
    sizes = asyncio.run(_load(dsn, scale))
    print(f"    loaded and analyzed in {time.monotonic() - started:.0f}s", flush=True)
    return sizes


async def _holds(dsn: str, name: str, scale: Decimal) -> bool:
    server = await asyncpg.connect(stack._with_database(dsn, "postgres"))
    try:
        if not await server.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            return False
    finally:
        await server.close()
    conn = await asyncpg.connect(dsn)
    try:
        return await dataset.loaded_scale(conn) == scale
    finally:
        await conn.close()


async def _load(dsn: str, scale: Decimal) -> dataset.Sizes:
    conn = await asyncpg.connect(dsn)
    try:
        return await dataset.load(conn, scale, hash_password_sync(dataset.PASSWORD))
    finally:
        await conn.close()


# ---------------------------------------------------------------- measuring


def _deep(name: str) -> Path_:
    return lambda n, c: f"{API}/{name}?limit={PAGE}&cursor={c.deep[name]}"


def _endpoints() -> dict[str, Path_]:
    day_end = datetime.now(UTC).replace(second=0, microsecond=0)
    day = (f"start={(day_end - timedelta(days=1)).isoformat()}&end={day_end.isoformat()}"
           .replace("+", "%2B"))
    searches = ["AAP", "BD01", "Bench Data 12", "micro", "NV", "industries 7"]
    ohlc = ["AAPL", "AMZN"]
    kinds = ["gainers", "losers", "active"]
    return {
        "GET /orders (first page)": lambda n, c: f"{API}/orders?limit={PAGE}",
        "GET /orders (deep page)": _deep("orders"),
        "GET /fills (first page)": lambda n, c: f"{API}/fills?limit={PAGE}",
        "GET /fills (deep page)": _deep("fills"),
        "GET /trades (first page)": lambda n, c: f"{API}/trades?limit={PAGE}",
        "GET /trades (deep page)": _deep("trades"),
        "GET /dashboard": lambda n, c: f"{API}/dashboard",
        "GET /positions": lambda n, c: f"{API}/positions",
        "GET /holdings": lambda n, c: f"{API}/holdings?limit={PAGE}",
        "GET /portfolios": lambda n, c: f"{API}/portfolios?limit={PAGE}",
        "GET /market/search?q=": lambda n, c: f"{API}/market/search?q={searches[n % 6]}",
        "GET /market/tickers": lambda n, c: f"{API}/market/tickers?limit={PAGE}",
        "GET /market/ohlc (1 day, 1m)":
            lambda n, c: f"{API}/market/ohlc?symbol={ohlc[n % 2]}&interval=1m&{day}",
        "GET /market/news": lambda n, c: f"{API}/market/news?limit={PAGE}",
        "GET /market/trending": lambda n, c: f"{API}/market/trending?kind={kinds[n % 3]}",
        "GET /market/indices": lambda n, c: f"{API}/market/indices",
    }


async def _measure(base: str, log: Path, sizes: dataset.Sizes,
                   args: argparse.Namespace) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        # Users spread over the whole set, not its first few.
        count = min(args.users, sizes.users)
        numbers = sorted({1 + i * sizes.users // count for i in range(count)})
        print(f"==> signing in {len(numbers)} users and walking their lists", flush=True)
        clients = [await _client(http, number) for number in numbers]
        rows = []
        for name, path in _endpoints().items():
            print(f"==> {name}", flush=True)
            ids = await _run(http, clients, name, path, args.requests)
            rows.append({"endpoint": name, "requests": len(ids),
                         **summary_ms(_server_ms(log, ids))})
            print(f"    server p50 {rows[-1]['p50']:.2f} ms, p99 {rows[-1]['p99']:.2f} ms",
                  flush=True)
        return rows


async def _client(http: httpx.AsyncClient, number: int) -> Client:
    answer = await http.post(f"{API}/auth/login", json={"email": dataset.email(number),
                                                        "password": dataset.PASSWORD})
    _ok(answer)
    token = answer.json()["access_token"]
    deep = {name: await _deepest_cursor(http, token, name) for name in ("orders", "fills",
                                                                        "trades")}
    return Client(token, deep)


async def _deepest_cursor(http: httpx.AsyncClient, token: str, name: str) -> str:
    """The cursor of the user's last full page: every page before it walked, as a client would."""
    cursor: str | None = None
    last = ""
    while True:
        query = f"?limit={PAGE}" + (f"&cursor={quote(cursor)}" if cursor else "")
        answer = await http.get(f"{API}/{name}{query}", headers=_auth(token))
        _ok(answer)
        page = answer.json()
        if cursor is not None and len(page["items"]) == PAGE:
            last = cursor
        cursor = page["next_cursor"]
        if cursor is None:
            if not last:
                raise procs.BenchError(f"/{name} of a bench user has no second page")
            return last


async def _run(http: httpx.AsyncClient, clients: list[Client], name: str, path: Path_,
               requests: int) -> list[str]:
    tag = "".join(ch if ch.isalnum() else "-" for ch in name.lower()).strip("-")[:40]
    queue = list(range(requests))
    ids: list[str] = []

    async def worker() -> None:
        while queue:
            n = queue.pop()
            client = clients[n % len(clients)]
            request_id = f"bd-{tag}-{n}"
            answer = await http.get(path(n, client),
                                    headers={**_auth(client.token), "X-Request-ID": request_id})
            _ok(answer)
            ids.append(request_id)

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return ids


def _server_ms(log: Path, ids: list[str]) -> list[float]:
    """The access log's duration of each of these requests. A line is written once its
    response is sent, so the last few may come just after the client has its answer."""
    deadline = time.monotonic() + LOG_WAIT_S
    while True:
        found = _durations(log, set(ids))
        if len(found) == len(ids):
            return list(found.values())
        if time.monotonic() > deadline:
            raise procs.BenchError(f"the access log {log} holds {len(found)} of {len(ids)}"
                                   " requests' durations")
        time.sleep(0.1)


def _durations(log: Path, wanted: set[str]) -> dict[str, float]:
    found: dict[str, float] = {}
    for line in log.read_text(errors="replace").splitlines():
        if '"duration_ms"' not in line:
            continue
        with contextlib.suppress(ValueError):
            record = json.loads(line)
            if record.get("request_id") in wanted:
                found[record["request_id"]] = float(record["duration_ms"])
    return found


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _ok(answer: httpx.Response) -> None:
    if answer.status_code != 200:
        raise procs.BenchError(f"{answer.request.method} {answer.request.url.path} answered"
                               f" {answer.status_code}: {answer.text[:300]}")


def table(rows: list[dict[str, Any]]) -> str:
    """The figures per endpoint with PASS or FAIL against the 20 ms server p99 target."""
    lines = [f"{'endpoint':<30} {'n':>5} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}  "
             f"p99 <= {TARGET_MS:g} ms"]
    for row in rows:
        verdict = "PASS" if row["p99"] is not None and row["p99"] <= TARGET_MS else "FAIL"
        lines.append(f"{row['endpoint']:<30} {row['requests']:>5} {row['p50']:>8.2f}"
                     f" {row['p99']:>8.2f} {row['max']:>8.2f}  {verdict}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
