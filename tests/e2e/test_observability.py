"""What an operator sees of a real run: the API as `make run` serves it (uvicorn with the JSON
log configuration) and a real Celery worker, both writing metrics to one shared directory.

Orders go through the worker to FILLED (paper) and ACCEPTED (at the Kite stub); then /metrics
shows the latency histograms with real counts, a worker log line names the request that
caused it, and neither process's log holds any secret the run used.
"""

from __future__ import annotations

import json
import os
import re
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from api.server import command
from shared.metrics import MULTIPROCESS_DIR_VARIABLE, reset_directory
from tests.e2e.conftest import FAST_RECOVERY, WorkerFactory, WorkerProcess, wait_for
from tests.e2e.served import Served
from tests.helpers import PASSWORD
from tests.stubs.server import free_port
from tests.stubs.zerodha.harness import StubKite, running

pytestmark = pytest.mark.e2e
PAPER_BUY = {"symbol": "AAPL", "side": "BUY", "order_type": "MARKET", "quantity": "1"}
KITE_BUY = {"symbol": "INFY", "side": "BUY", "order_type": "LIMIT", "quantity": "10",
            "price": "1860.00"}


@pytest.fixture
def kite() -> Iterator[StubKite]:
    with running() as stub:
        yield stub


@pytest.fixture
def metrics_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "metrics"
    reset_directory(directory)
    return directory


@pytest.fixture
def env(metrics_dir: Path, kite: StubKite) -> dict[str, str]:
    return {**FAST_RECOVERY, MULTIPROCESS_DIR_VARIABLE: str(metrics_dir),
            "ZERODHA_ROOT_URL": kite.url, "LOG_LEVEL": "INFO"}


@pytest.fixture
def api(tmp_path: Path, env: dict[str, str]) -> Iterator[Served]:
    """The API started the way `make run` starts it."""
    port = free_port()
    process = Served(command(sys.executable, "127.0.0.1", port, workers=1), port,
                     tmp_path / "api.log", env)
    process.start()
    yield process
    process.stop()


@pytest.fixture
def worker(worker_factory: WorkerFactory, env: dict[str, str]) -> WorkerProcess:
    started = worker_factory(os.environ["REDIS_URL"], env)
    started.start()
    return started


@pytest.fixture
async def http(api: Served) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=api.url, timeout=30) as client:
        yield client


class Run:
    """The flow's requests, and every secret they used."""

    def __init__(self, http: httpx.AsyncClient, kite: StubKite) -> None:
        self.http, self.kite = http, kite
        self.secrets: set[str] = {PASSWORD, kite.session().api_secret}

    async def ok(self, method: str, path: str, status: int = 200, **kwargs: Any) -> Any:
        response = await self.http.request(method, path, **kwargs)
        assert response.status_code == status, response.text
        return response.json() if response.content else None

    async def log_in(self) -> dict[str, str]:
        email = f"ops-{uuid.uuid4().hex[:10]}@example.com"
        credentials = {"email": email, "password": PASSWORD}
        await self.ok("POST", "/api/v1/auth/register", 201, json=credentials)
        tokens = await self.ok("POST", "/api/v1/auth/login", json=credentials)
        renewed = await self.ok("POST", "/api/v1/auth/refresh",
                                json={"refresh_token": tokens["refresh_token"]})
        self.secrets |= {tokens["access_token"], tokens["refresh_token"],
                         renewed["access_token"], renewed["refresh_token"]}
        return {"Authorization": f"Bearer {renewed['access_token']}"}

    async def api_key(self, auth: dict[str, str]) -> dict[str, str]:
        created = await self.ok("POST", "/api/v1/api-keys", 201, headers=auth,
                                json={"name": "ops bot", "scopes": ["trade"]})
        self.secrets.add(created["key"])
        return {"Authorization": f"Bearer {created['key']}"}

    async def connect_kite(self, auth: dict[str, str]) -> str:
        request_token = self.kite.issue_request_token()
        connection = await self.ok("POST", "/api/v1/brokers/zerodha/connections", 201,
                                   headers=auth, json={
                                       "api_key": self.kite.session().api_key,
                                       "api_secret": self.kite.session().api_secret,
                                       "request_token": request_token})
        self.secrets |= {request_token, *self.kite.exchange.access_tokens,
                         *self.kite.refresh_tokens()}
        account_id: str = connection["id"]
        return account_id

    async def until(self, auth: dict[str, str], order_id: str, status: str) -> None:
        async def reached() -> bool:
            order = await self.ok("GET", f"/api/v1/orders/{order_id}", headers=auth)
            return bool(order["status"] == status)

        await wait_for(reached, 60, f"order {order_id} to reach {status}")


async def test_metrics_logs_and_secrets_after_real_orders_through_the_worker(
        api: Served, worker: WorkerProcess, http: httpx.AsyncClient, kite: StubKite) -> None:
    run = Run(http, kite)
    auth = await run.log_in()
    key = await run.api_key(auth)
    account_id = await run.connect_kite(auth)
    request_id = f"ops-test-{uuid.uuid4().hex}"
    paper = await run.ok("POST", "/api/v1/orders", 202, json=PAPER_BUY,
                         headers={**key, "X-Request-ID": request_id})
    at_kite = await run.ok("POST", "/api/v1/orders", 202, headers=auth,
                           json={**KITE_BUY, "account_id": account_id})
    await run.until(key, paper["id"], "FILLED")
    await run.until(auth, at_kite["id"], "ACCEPTED")

    token = auth["Authorization"].removeprefix("Bearer ")
    async with websockets.connect(f"ws://127.0.0.1:{api.port}/api/v1/stream?token={token}"):
        async def stream_counted() -> bool:
            return _sample(await _metrics(http), "ordergate_stream_connections",
                           transport="websocket") == 1

        await wait_for(stream_counted, 10, "the open WebSocket to be counted")

    page = await _metrics(http)
    assert _sample(page, "ordergate_order_submit_to_ack_seconds_count", broker="paper") >= 1
    assert _sample(page, "ordergate_order_submit_to_fill_seconds_count", broker="paper") >= 1
    assert _sample(page, "ordergate_order_submit_to_ack_seconds_count", broker="zerodha") >= 1
    assert _sample(page, "ordergate_dispatch_lag_seconds_count", queue="orders") >= 1
    assert _sample(page, "ordergate_dispatch_lag_seconds_count", queue="broker.zerodha") >= 1
    assert _sample(page, "ordergate_http_request_duration_seconds_count", method="POST",
                   route="/api/v1/orders", status="202") == 2
    assert _sample(page, "ordergate_http_request_duration_seconds_count", method="GET",
                   route="/api/v1/orders/{order_id}", status="200") >= 2
    assert paper["id"] not in page  # routes are templates: no label per order
    assert _sample(page, "ordergate_order_transitions_total", status="PENDING_NEW") == 2
    assert _sample(page, "ordergate_order_transitions_total", status="FILLED") >= 1
    assert _sample(page, "ordergate_queue_depth", queue="orders") == 0
    assert _sample(page, "ordergate_broker_circuit_state", broker="zerodha",
                   state="closed") == 1
    assert _sample(page, "ordergate_workers_online") >= 1

    api.stop()
    worker.stop()
    api_lines, worker_lines = _json_lines(api.log), _json_lines(worker.log)
    assert any(line.get("request_id") == request_id and line.get("order_id") == paper["id"]
               and line.get("task") == "orders.submit" for line in worker_lines)
    # One line for the request (the app's own, with its route), not uvicorn's as well.
    assert [(line["logger"], line.get("route")) for line in api_lines
            if line.get("request_id") == request_id and "access" in line["logger"]] == [
        ("api.access", "/api/v1/orders")]
    for log in (api.log, worker.log):
        text = log.read_text()
        leaked = sorted(secret for secret in run.secrets if secret in text)
        assert leaked == [], f"{log.name} holds secrets"


async def _metrics(http: httpx.AsyncClient) -> str:
    response = await http.get("/metrics")
    assert response.status_code == 200, response.text
    return response.text


def _sample(page: str, name: str, **labels: str) -> float:
    """The sum of a metric's samples whose labels include `labels` (0 if none)."""
    total = 0.0
    for match in re.finditer(rf"^{re.escape(name)}(?:{{(.*)}})? (\S+)$", page, re.MULTILINE):
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1) or ""))
        if all(found.get(key) == value for key, value in labels.items()):
            total += float(match.group(2))
    return total


# What Celery writes straight to the terminal, not through logging: before logging is set up
# (its warning about running as root, the banner), and its shutdown notice.
_CELERY_CONSOLE = re.compile(r"^(worker: (Warm|Cold) shutdown.*|\s*)$")


def _json_lines(log: Path) -> list[dict[str, Any]]:
    """Every line of a log, each of which must be JSON once the process has started."""
    lines = log.read_text().splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("{"))
    parsed = []
    for number, line in enumerate(lines[first:], start=first + 1):
        if _CELERY_CONSOLE.match(line):
            continue
        try:
            parsed.append(json.loads(line))
        except json.JSONDecodeError:
            context = "\n".join(lines[max(number - 4, 0):number + 2])
            pytest.fail(f"{log.name} line {number} is not JSON; around it:\n{context[-4000:]}")
    return parsed
