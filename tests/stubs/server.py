"""Serve a stub broker (an ASGI app) on a free local port from a background thread."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

import uvicorn
from starlette.types import ASGIApp


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class StubServer:
    """One uvicorn server in a thread; `stop()` and `start()` again on the same port (an outage)."""

    def __init__(self, app: ASGIApp, port: int | None = None, *,
                 lifespan: Literal["on", "off"] = "off") -> None:
        self.app = app
        self.port = port or free_port()
        self.lifespan = lifespan
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning",
                                lifespan=self.lifespan)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True,
                                        name=f"stub-{self.port}")
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"stub server on port {self.port} did not start")
            time.sleep(0.01)

    @contextmanager
    def outage(self) -> Iterator[None]:
        """The server is down (connections refused) for the block, then up on the same port."""
        self.stop()
        try:
            yield
        finally:
            self.start()

    def stop(self) -> None:
        if self._server is None or self._thread is None:
            return
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._server = None
        self._thread = None


@contextmanager
def serving(app: ASGIApp) -> Iterator[StubServer]:
    """Run `app` for the duration of the block."""
    server = StubServer(app)
    server.start()
    try:
        yield server
    finally:
        server.stop()
