"""The HTTP/1.1 protocol the API is served with: uvicorn's own (httptools), plus a deadline
and a size cap on each request's headers, which uvicorn does not have.

Without them a client that connects and sends a header byte now and then holds its
connection for as long as it likes, and one that sends endless headers grows the server's
memory. `python -m api.server [uvicorn options]` serves the API with it.
"""

from __future__ import annotations

import asyncio
import json
import math
import sys
import uuid
from typing import TYPE_CHECKING, Any, Final

import uvicorn.main
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from api.errors import error_document
from shared import logs
from shared.heap import settle_heap
from shared.settings import Settings, get_settings, settings_or_exit

if TYPE_CHECKING:
    from fastapi import FastAPI

APP: Final = "api.server:served_app"
PROTOCOL: Final = "api.server:HttpProtocol"
# Twice what nginx buffers by default (4 × 8 KiB); an access token is about 400 bytes.
MAX_HEADER_BYTES: Final = 32 * 1024


class HttpProtocol(HttpToolsProtocol):
    """A connection has HEADER_TIMEOUT_SECONDS, from connecting or from its previous answer,
    to send a request's headers, and at most MAX_HEADER_BYTES of them: else it gets a 408 or
    a 431 in the API's error shape, and is closed. An idle connection is closed silently."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timeout = get_settings().header_timeout_seconds
        self._header_timer: asyncio.TimerHandle | None = None
        self._header_bytes = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_headers()

    def connection_lost(self, exc: Exception | None) -> None:
        self._headers_arrived()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._header_timer is not None:
            self._header_bytes += len(data)
        super().data_received(data)
        # Counted per chunk: the chunk that completes the headers may carry a body too.
        if self._header_timer is not None and self._header_bytes > MAX_HEADER_BYTES:
            self._refuse(431, "headers_too_large",
                         f"the request's headers are larger than {MAX_HEADER_BYTES} bytes")

    def on_headers_complete(self) -> None:
        self._headers_arrived()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        next_is_waiting = bool(self.pipeline)  # a pipelined request whose headers are in
        super().on_response_complete()
        if not next_is_waiting and not self.transport.is_closing():
            self._await_headers()

    def _await_headers(self) -> None:
        self._headers_arrived()
        self._header_bytes = 0
        self._header_timer = self.loop.call_later(self._header_timeout, self._headers_late)

    def _headers_arrived(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_late(self) -> None:
        self._header_timer = None
        if self.transport.is_closing():
            return
        if not self._header_bytes:
            self.transport.close()  # nothing was asked (an idle or speculative connection)
            return
        self._refuse(408, "request_timeout", f"the request's headers did not arrive within"
                                             f" {self._header_timeout:g} s")

    def _refuse(self, status: int, code: str, message: str) -> None:
        self._headers_arrived()
        if self.transport.is_closing():  # the parser refused the request already (400)
            return
        body = json.dumps(error_document(code, message, {}, uuid.uuid4().hex)).encode()
        self.transport.write(b"".join([
            STATUS_LINE[status], b"content-type: application/json\r\n",
            b"content-length: ", str(len(body)).encode(), b"\r\n",
            b"connection: close\r\n\r\n", body]))
        self.transport.close()


def served_app() -> FastAPI:
    """The app as each server process runs it: built, then its heap settled (shared/heap.py)."""
    from api.main import create_app  # in the workers only: the supervisor never serves

    app = create_app()
    settle_heap()
    return app


def command(python: str, host: str, port: int, workers: int) -> list[str]:
    """The command line that serves the API (`make run`, the tests, the Dockerfile)."""
    return [python, "-m", "api.server", "--host", host, "--port", str(port),
            "--workers", str(workers)]


def graceful_seconds(settings: Settings) -> int:
    """How long uvicorn waits, after SIGTERM, for the requests in flight (streams end first,
    api/stream/shutdown.py): one may still be sending its body, then be handled."""
    return math.ceil(settings.body_timeout_seconds + settings.request_timeout_seconds)


def main(argv: list[str]) -> None:
    """Check the settings, then run uvicorn with this protocol; `argv` are uvicorn's options.

    Checked here, in the parent: with --workers, uvicorn's supervisor would stop on a worker
    that cannot start, but exit 0, which no orchestrator reads as a failure.
    """
    settings = settings_or_exit()
    # JSON log lines from uvicorn's first one on; each request is logged by the app itself.
    uvicorn.main.main([APP, "--factory", "--http", PROTOCOL, "--port", str(settings.api_port),
                       "--log-config", str(logs.CONFIG_FILE), "--no-access-log",
                       "--timeout-graceful-shutdown", str(graceful_seconds(settings)), *argv],
                      prog_name="python -m api.server")


if __name__ == "__main__":
    main(sys.argv[1:])
