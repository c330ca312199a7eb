"""Pure ASGI middleware (BaseHTTPMiddleware would cost a task per request on the hot path).

The life of a request through them: RequestContext names it, ReadBody takes its whole body in
(bounded in size and time), InFlight gives it one of the process's slots, Deadline bounds the
handler. A client that trickles its body never reaches a slot; a slot is given back as soon
as the answer starts, so a long stream (SSE) does not keep one either.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import uuid
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import INTERNAL_ERROR, error_document
from shared import logs

log = logging.getLogger(__name__)

_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# Orders and logins are a few hundred bytes. Kept small because parsing is CPU on the event
# loop: the costliest valid JSON (nested arrays) takes about 0.4 s per megabyte.
MAX_BODY_BYTES = 128 * 1024
CLOSE: tuple[bytes, bytes] = (b"connection", b"close")


class RequestContext:
    """Give every request an id (the client's X-Request-ID if sane), on every answer too."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        with logs.bound(request_id=request_id):  # on every line logged for this request
            await self.app(scope, receive, send_with_id)


class Unexpected:
    """The answer to an exception no route handler took: the one error shape, 500
    `internal_error`, and nothing about the code; a client that went away gets none. Given
    here, inside every other layer, so it carries the request id, the security headers and
    CORS like any answer; Starlette gives its own outside them all, so a 500 had none of them."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except ClientDisconnect:
            # The client hung up before its request was in: nobody is left to answer, and it
            # is no fault of ours (Observe counts it as 499, not 500).
            log.info("client went away during its request: %s %s", scope["method"],
                     scope["path"])
        except Exception:
            log.error("unhandled error on %s %s", scope["method"], scope["path"], exc_info=True)
            if started:  # too late for an answer of our own: the server closes the connection
                raise
            await send_error(send, scope, 500, "internal_error", INTERNAL_ERROR)


class RefuseNul:
    """A NUL character in the path (404: it names nothing) or in a query parameter (422
    naming it), before any route sees it: PostgreSQL text cannot hold one, so a search for it
    was a 500 from the database."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if "\x00" in scope["path"]:
            await send_error(send, scope, 404, "not_found", "no resource has a NUL in its path")
            return
        for name, value in parse_qsl(scope.get("query_string", b"").decode("latin-1"),
                                     keep_blank_values=True):
            if "\x00" in name or "\x00" in value:
                field = name.replace("\x00", "")
                await send_error(send, scope, 422, "invalid_request",
                                 f"{field}: the NUL character is not allowed", {"field": field})
                return
        await self.app(scope, receive, send)


class ReadBody:
    """Take the whole request body in before the app runs: 413 `body_too_large` past
    `max_bytes`, 408 `request_timeout` when it has not all arrived within `timeout` seconds.

    A declared Content-Length is checked before anything is read; a chunked body is counted
    as it comes. Either refusal closes the connection. A refused body the client is sending
    anyway is first read and dropped, up to `drain_bytes` more and within `timeout`: closing
    with bytes unread makes the kernel reset the connection, and the client would lose the 413
    for a connection reset. A client that waits for 100 Continue is refused at once.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, timeout: float,
                 drain_bytes: int = 1 << 20) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout = timeout
        self.drain_bytes = drain_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            if declared <= self.max_bytes + self.drain_bytes and not _expects_continue(scope):
                await self._drain(receive, 0)
            await self._too_large(scope, send)
            return
        try:
            async with asyncio.timeout(self.timeout):
                received, size = await self._read(receive)
        except TimeoutError:
            await send_error(send, scope, 408, "request_timeout",
                             f"the request body did not arrive within {self.timeout:g} s",
                             headers=[CLOSE])
            return
        if received is None:
            await self._drain(receive, size)
            await self._too_large(scope, send)
            return
        await self.app(scope, _replay(received, receive), send)

    async def _too_large(self, scope: Scope, send: Send) -> None:
        await send_error(send, scope, 413, "body_too_large",
                         f"the request body is larger than {self.max_bytes} bytes",
                         headers=[CLOSE])

    async def _read(self, receive: Receive) -> tuple[list[Message] | None, int]:
        """Return the body's messages, or None once they add up to more than the limit; and
        the bytes read."""
        messages, size = [], 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                return messages, size  # the client went away: the app will see it
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                return None, size
            if not message.get("more_body", False):
                return messages, size

    async def _drain(self, receive: Receive, size: int) -> None:
        """Read and drop the rest of a refused body (`size` bytes of it read so far)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.timeout):
                while size <= self.max_bytes + self.drain_bytes:
                    message = await receive()
                    if message["type"] != "http.request" or not message.get("more_body"):
                        return
                    size += len(message.get("body", b""))


class InFlight:
    """Past `max_inflight` requests being worked on, answer 503 `overloaded` with Retry-After
    at once, rather than queueing requests for seconds behind the ones already in hand."""

    def __init__(self, app: ASGIApp, max_inflight: int) -> None:
        self.app = app
        self.max_inflight = max_inflight
        self.inflight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.inflight >= self.max_inflight:
            await send_error(send, scope, 503, "overloaded",
                             "the gateway is at capacity; retry after a second",
                             headers=[(b"retry-after", b"1")])
            return
        self.inflight += 1
        held = True

        def release() -> None:
            nonlocal held
            if held:
                held = False
                self.inflight -= 1

        async def send_releasing(message: Message) -> None:
            if message["type"] == "http.response.start":
                release()  # the work is done; what is left is the client reading
            await send(message)

        try:
            await self.app(scope, receive, send_releasing)
        finally:
            release()


class Deadline:
    """Answer 504 `deadline_exceeded` when a handler has not started its answer within
    `seconds`. The handler is cancelled (an open transaction rolls back; one that committed
    stays). Once an answer has started (a stream), it runs on."""

    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        deadline = asyncio.timeout(self.seconds)
        started = False

        async def send_started(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                deadline.reschedule(None)
            await send(message)

        try:
            async with deadline:
                await self.app(scope, receive, send_started)
        except TimeoutError:
            if started or not deadline.expired():
                raise
            log.warning("%s %s cut off after %g s", scope["method"], scope["path"], self.seconds)
            await send_error(send, scope, 504, "deadline_exceeded",
                             f"the request took longer than {self.seconds:g} s and was"
                             " abandoned; a change it made may or may not have happened: read"
                             " it back, or retry an order with the same Idempotency-Key")


def _expects_continue(scope: Scope) -> bool:
    return any(name == b"expect" and value.lower() == b"100-continue"
               for name, value in scope["headers"])


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = iter(messages)

    async def replayed() -> Message:
        return next(pending, None) or await receive()

    return replayed


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            candidate: str = value.decode("latin-1")
            if _VALID_REQUEST_ID.match(candidate):
                return candidate
    return uuid.uuid4().hex


async def send_error(send: Send, scope: Scope, status: int, code: str, message: str,
                     details: dict[str, Any] | None = None,
                     headers: list[tuple[bytes, bytes]] | None = None) -> None:
    """Answer in the API's one error shape, from outside the app's exception handlers.

    Inside RequestContext, which gave the request its id and adds the header.
    """
    request_id = scope.get("state", {}).get("request_id")
    body = json.dumps(error_document(code, message, details or {}, request_id)).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        *(headers or [])]})
    await send({"type": "http.response.body", "body": body})
