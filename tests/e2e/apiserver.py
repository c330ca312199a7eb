"""The API as production runs it: a uvicorn process (api.server.command) over real TCP."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from api.server import command
from tests.stubs.server import free_port

ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def api_process(log: Path, workers: int = 1,
                env: dict[str, str] | None = None) -> Iterator[str]:
    """Serve the API until the block ends; yield its base URL."""
    port = free_port()
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [*command(sys.executable, "127.0.0.1", port, workers), "--log-level", "warning"],
            cwd=ROOT, env={**os.environ, **(env or {})}, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, process, log)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


def wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    """Wait until the API answers /health; fail with its log if it exits or never does."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"uvicorn exited early:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"uvicorn did not become healthy:\n{log.read_text()[-3000:]}")
