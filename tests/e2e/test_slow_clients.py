"""Slow and oversized clients against the API as production serves it (uvicorn over TCP).

Today's attack (issue 11): 140 half-sent request bodies filled the in-flight cap and every
other caller got 503. Here the server runs with two slots and one-second read timeouts.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.server import MAX_HEADER_BYTES, command
from shared.settings import DEV_CREDENTIALS_KEY, DEV_WEBHOOK_SECRET
from tests.e2e.apiserver import ROOT, api_process
from tests.helpers import register_and_login
from tests.stubs.server import free_port

pytestmark = pytest.mark.e2e
SLOTS = 2
PATIENCE = 15.0  # far beyond the one-second timeouts: a refusal arrives long before


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("slow-clients") / "uvicorn.log"
    with api_process(log, env={"HEADER_TIMEOUT_SECONDS": "1", "BODY_TIMEOUT_SECONDS": "1",
                               "MAX_INFLIGHT_REQUESTS": str(SLOTS)}) as url:
        yield url


def _connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)))
    sock.settimeout(PATIENCE)
    return sock


def _read_all(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def _answer(raw: bytes) -> tuple[int, dict[str, str], Any]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip()
               for name, _, value in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, json.loads(body)


async def test_headers_trickled_past_the_timeout_get_408_and_the_connection_closes(
    server: str,
) -> None:
    sock = _connect(server)
    with sock:
        sock.sendall(b"GET /api/v1/orders HTTP/1.1\r\nHost: x\r\nX-Slow: 1")
        status, headers, body = _answer(await asyncio.to_thread(_read_all, sock))
    assert status == 408
    assert headers["connection"] == "close"
    assert body["error"]["code"] == "request_timeout"
    assert body["error"]["request_id"]


async def test_a_connection_that_never_asks_is_closed_without_an_answer(server: str) -> None:
    sock = _connect(server)
    with sock:
        assert await asyncio.to_thread(_read_all, sock) == b""


async def test_headers_beyond_the_cap_get_431_and_the_connection_closes(server: str) -> None:
    sock = _connect(server)
    filler = b"".join(b"X-Filler-%d: %s\r\n" % (i, b"a" * 1000)
                      for i in range(MAX_HEADER_BYTES // 1000 + 2))
    with sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n" + filler)
        status, headers, body = _answer(await asyncio.to_thread(_read_all, sock))
    assert status == 431
    assert body["error"]["code"] == "headers_too_large"


async def test_a_body_trickled_past_the_timeout_gets_408_in_the_error_shape(
    server: str,
) -> None:
    sock = _connect(server)
    with sock:
        sock.sendall(b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Type: application/json\r\nContent-Length: 100\r\n"
                     b"X-Request-ID: slow-body-1\r\n\r\n{\"email\"")
        status, headers, body = _answer(await asyncio.to_thread(_read_all, sock))
    assert status == 408
    assert headers["x-request-id"] == "slow-body-1"
    assert headers["x-content-type-options"] == "nosniff"
    assert body["error"] == {"code": "request_timeout",
                             "message": "the request body did not arrive within 1 s",
                             "details": {}, "request_id": "slow-body-1"}


async def test_a_chunked_body_beyond_the_limit_is_413_without_a_content_length(
    server: str,
) -> None:
    chunk = b"x" * 65536

    async def body() -> Any:
        for _ in range(4):  # 256 KiB, over the 128 KiB limit, never announced
            yield chunk

    async with httpx.AsyncClient(base_url=server, timeout=PATIENCE) as http:
        response = await http.post("/api/v1/auth/login", content=body(),
                                   headers={"Content-Type": "application/json"})
    assert "content-length" not in response.request.headers
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "body_too_large"


@pytest.mark.parametrize("framing", ["chunked", "declared"])
def test_a_client_that_sent_its_whole_too_large_body_reads_the_413_not_a_reset(
    server: str, framing: str,
) -> None:
    # All of it sent before the answer is read: a server that answers and closes with the
    # rest unread makes the kernel reset the connection, and the client loses the answer.
    chunk = b"x" * 65536
    if framing == "chunked":
        head = b"Transfer-Encoding: chunked\r\n"
        body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(4)) + b"0\r\n\r\n"
    else:
        head, body = b"Content-Length: %d\r\n" % (4 * len(chunk)), chunk * 4
    sock = _connect(server)
    try:
        sock.sendall(b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Type: application/json\r\n" + head + b"\r\n" + body)
        time.sleep(0.3)  # the server has answered and closed by now
        status, headers, answer = _answer(_read_all(sock))
    finally:
        sock.close()
    assert (status, headers["connection"]) == (413, "close")
    assert answer["error"]["code"] == "body_too_large"


async def test_half_sent_bodies_and_open_streams_leave_the_slots_to_other_callers(
    server: str,
) -> None:
    stalled = [_connect(server) for _ in range(SLOTS * 5)]
    for sock in stalled:  # every one is held up in its body, before reaching a slot
        sock.sendall(b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
    try:
        async with httpx.AsyncClient(base_url=server, timeout=PATIENCE) as http:
            auth = await register_and_login(http)
            token = auth["Authorization"].removeprefix("Bearer ")
            async with _streams(http, token, SLOTS + 1):
                response = await http.get("/api/v1/orders", headers=auth)
        assert response.status_code == 200, response.text
    finally:
        for sock in stalled:
            sock.close()


class _streams:
    """Open `count` SSE streams and read each one's first event; close them on exit."""

    def __init__(self, http: httpx.AsyncClient, token: str, count: int) -> None:
        self.http, self.token, self.count = http, token, count
        self.responses: list[httpx.Response] = []

    async def __aenter__(self) -> None:
        for _ in range(self.count):
            request = self.http.build_request(
                "GET", "/api/v1/stream/sse", params={"token": self.token, "symbols": "AAPL"})
            response = await self.http.send(request, stream=True)
            self.responses.append(response)
            assert response.status_code == 200
            await anext(response.aiter_lines())

    async def __aexit__(self, *_: object) -> None:
        for response in self.responses:
            await response.aclose()


async def test_an_event_stream_is_never_compressed_and_its_events_arrive_at_once(
    server: str,
) -> None:
    async with httpx.AsyncClient(base_url=server, timeout=PATIENCE) as http:
        auth = await register_and_login(http)
        token = auth["Authorization"].removeprefix("Bearer ")
        async with http.stream("GET", "/api/v1/stream/sse",
                               params={"token": token, "symbols": "AAPL"},
                               headers={"Accept-Encoding": "gzip"}) as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            assert "content-encoding" not in stream.headers
            # The stream is still open: this event came as it was sent, not when it ended.
            first = await anext(stream.aiter_lines())
        assert first.startswith(("event:", "data:", "id:", ":"))


async def test_production_with_unsafe_settings_refuses_to_start_in_one_line(
    tmp_path: Path,
) -> None:
    # Set here, so that no .env of the machine can make them safe.
    env = {**os.environ, "ENVIRONMENT": "production", "JWT_SECRET": "x" * 40,
           "CREDENTIALS_KEYS": DEV_CREDENTIALS_KEY, "BROKER_WEBHOOK_SECRET": DEV_WEBHOOK_SECRET,
           "PUBLIC_BASE_URL": "http://gate.example.com"}
    result = await asyncio.to_thread(
        subprocess.run, command(sys.executable, "127.0.0.1", free_port(), 2), cwd=ROOT,
        env=env, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 1
    # One line, from the parent, before any worker process starts.
    assert result.stderr.startswith("ordergate: refusing to start: ENVIRONMENT=production: ")
    assert result.stderr.count("\n") == 1, result.stderr
    for name in ("JWT_SECRET", "CREDENTIALS_KEYS", "BROKER_WEBHOOK_SECRET", "PUBLIC_BASE_URL"):
        assert name in result.stderr
