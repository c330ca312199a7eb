"""Flower, as `make run` starts it (basic auth), watching a real worker process an order."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import ClientFactory, WorkerFactory, wait_for
from tests.e2e.served import Served
from tests.helpers import register_and_login

pytestmark = pytest.mark.e2e
USER, PASSWORD = "operator", "flower-test-passphrase"
MARKET_BUY = {"symbol": "AAPL", "side": "BUY", "order_type": "MARKET", "quantity": "1"}


@pytest.fixture
def flower(tmp_path: Path) -> Iterator[Served]:
    """Flower as `make run` starts it: basic auth, on loopback."""
    started = Served.on_free_port(
        [sys.executable, "-m", "celery", "-A", "worker.app", "flower", "--address=127.0.0.1",
         "--port={port}", f"--basic-auth={USER}:{PASSWORD}"], tmp_path / "flower.log")
    started.start()
    yield started
    started.stop()


def _get(flower: Served, path: str, auth: tuple[str, str] | None = (USER, PASSWORD),
         **params: Any) -> httpx.Response:
    return httpx.get(f"{flower.url}{path}", auth=auth, params=params, timeout=30)


async def test_flower_shows_the_worker_and_the_order_task_it_processed(
        flower: Served, worker_factory: WorkerFactory, client_for: ClientFactory) -> None:
    worker = worker_factory(os.environ["REDIS_URL"], args=["-E"])  # -E: task events
    worker.start()

    async def worker_listed() -> bool:
        answer = _get(flower, "/api/workers", refresh="true")
        return answer.status_code == 200 and worker.name in answer.json()

    await wait_for(worker_listed, 30, "Flower to list the worker")
    client, _ = await client_for(os.environ["REDIS_URL"])
    auth = await register_and_login(client)
    placed = await client.post("/api/v1/orders", json=MARKET_BUY, headers=auth)
    assert placed.status_code == 202, placed.text
    order_id = placed.json()["id"]

    async def task_seen() -> bool:
        tasks = _get(flower, "/api/tasks", taskname="orders.submit").json()
        return any(order_id in (task.get("args") or "") and task["state"] == "SUCCESS"
                   and task["worker"] == worker.name for task in tasks.values())

    await wait_for(task_seen, 30, "Flower to show the order's task done by the worker")
    order = (await client.get(f"/api/v1/orders/{order_id}", headers=auth)).json()
    assert order["status"] == "FILLED"


def test_flower_refuses_requests_without_the_right_password(flower: Served) -> None:
    for path in ("/api/workers", "/api/tasks", "/"):
        assert _get(flower, path, auth=None).status_code == 401
        assert _get(flower, path, auth=(USER, "wrong password")).status_code == 401
        assert _get(flower, path, auth=("admin", PASSWORD)).status_code == 401
