"""Pure ASGI middleware (BaseHTTPMiddleware would cost a task per request on the hot path)."""

from __future__ import annotations

import json
import re
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared import logs

_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# Orders and logins are a few hundred bytes. Kept small because parsing is CPU on the event
# loop: the costliest valid JSON (nested arrays) takes about 0.4 s per megabyte.
MAX_BODY_BYTES = 128 * 1024


class RequestContext:
    """Give every request an id (the client's X-Request-ID if sane) and shed load when saturated.

    Past `max_inflight` concurrent requests the API answers 503 with Retry-After at once, rather
    than queueing requests for seconds behind the ones it is already working on.
    """

    def __init__(self, app: ASGIApp, max_inflight: int) -> None:
        self.app = app
        self.max_inflight = max_inflight
        self.inflight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        if self.inflight >= self.max_inflight:
            await _overloaded(send, request_id)
            return

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        self.inflight += 1
        try:
            with logs.bound(request_id=request_id):  # on every line logged for this request
                await self.app(scope, receive, send_with_id)
        finally:
            self.inflight -= 1


class BodyLimit:
    """Answer 413 `body_too_large`, before the app runs, to a body larger than `max_bytes`.

    A declared Content-Length is checked at once (the server holds the body to it); a chunked
    body is read here, up to the limit, and handed on whole.
    """

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is None:
            received = await self._read_chunked(receive)
            if received is not None:
                await self.app(scope, _replay(received, receive), send)
                return
        elif declared <= self.max_bytes:
            await self.app(scope, receive, send)
            return
        # Inside RequestContext, which gave the request its id and adds the header.
        await _send_error(send, scope["state"]["request_id"], 413, "body_too_large",
                          f"the request body is larger than {self.max_bytes} bytes")

    async def _read_chunked(self, receive: Receive) -> list[Message] | None:
        """Return the body's messages, or None once they add up to more than the limit."""
        messages, size = [], 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                return messages  # the client went away: the app will see it
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                return None
            if not message.get("more_body", False):
                return messages


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


async def _overloaded(send: Send, request_id: str) -> None:
    # Sent past RequestContext's own send, so the request id header is added here.
    await _send_error(send, request_id, 503, "overloaded",
                      "the gateway is at capacity; retry after a second",
                      headers=[(b"retry-after", b"1"), (b"x-request-id", request_id.encode())])


async def _send_error(send: Send, request_id: str, status: int, code: str, message: str,
                      headers: list[tuple[bytes, bytes]] | None = None) -> None:
    """Answer in the API's one error shape, from outside the app's exception handlers."""
    body = json.dumps({"error": {
        "code": code, "message": message, "details": {}, "request_id": request_id}}).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        *(headers or [])]})
    await send({"type": "http.response.body", "body": body})
