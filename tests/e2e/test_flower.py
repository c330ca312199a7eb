"""Flower, as `make run` starts it (basic auth), watching a real worker process an order."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import ROOT, ClientFactory, WorkerFactory, wait_for
from tests.helpers import register_and_login
from tests.stubs.server import free_port

pytestmark = pytest.mark.e2e
USER, PASSWORD = "operator", "flower-test-passphrase"
MARKET_BUY = {"symbol": "AAPL", "side": "BUY", "order_type": "MARKET", "quantity": "1"}


class Flower:
    """`celery flower --basic-auth` in its own process, on a free port."""

    def __init__(self, log: Path) -> None:
        self.url = f"http://127.0.0.1:{free_port()}"
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        port = self.url.rsplit(":", 1)[1]
        command = [sys.executable, "-m", "celery", "-A", "worker.app", "flower",
                   "--address=127.0.0.1", f"--port={port}", f"--basic-auth={USER}:{PASSWORD}"]
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(command, cwd=ROOT, env=os.environ.copy(),
                                            stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()[-3000:]
            try:
                httpx.get(self.url, timeout=1)
                return
            except httpx.TransportError:
                time.sleep(0.2)
        raise RuntimeError(f"Flower did not start:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(20)


@pytest.fixture
def flower(tmp_path: Path) -> Iterator[Flower]:
    started = Flower(tmp_path / "flower.log")
    started.start()
    yield started
    started.stop()


def _get(flower: Flower, path: str, auth: tuple[str, str] | None = (USER, PASSWORD),
         **params: Any) -> httpx.Response:
    return httpx.get(f"{flower.url}{path}", auth=auth, params=params, timeout=30)


async def test_flower_shows_the_worker_and_the_order_task_it_processed(
        flower: Flower, worker_factory: WorkerFactory, client_for: ClientFactory) -> None:
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


def test_flower_refuses_requests_without_the_right_password(flower: Flower) -> None:
    for path in ("/api/workers", "/api/tasks", "/"):
        assert _get(flower, path, auth=None).status_code == 401
        assert _get(flower, path, auth=(USER, "wrong password")).status_code == 401
        assert _get(flower, path, auth=("admin", PASSWORD)).status_code == 401
