"""Pure ASGI middleware (BaseHTTPMiddleware would cost a task per request on the hot path)."""

from __future__ import annotations

import json
import re
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


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
            await self.app(scope, receive, send_with_id)
        finally:
            self.inflight -= 1


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            candidate: str = value.decode("latin-1")
            if _VALID_REQUEST_ID.match(candidate):
                return candidate
    return uuid.uuid4().hex


async def _overloaded(send: Send, request_id: str) -> None:
    body = json.dumps({"error": {
        "code": "overloaded", "message": "the gateway is at capacity; retry after a second",
        "details": {}, "request_id": request_id}}).encode()
    await send({"type": "http.response.start", "status": 503, "headers": [
        (b"content-type", b"application/json"), (b"retry-after", b"1"),
        (b"x-request-id", request_id.encode()), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
