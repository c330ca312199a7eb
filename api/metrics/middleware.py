"""Time every HTTP request by its route template and log one line for it."""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared import logs, metrics

log = logging.getLogger("api.access")
# A path no route matched is not a label: every scanner's guess would become a new series.
UNMATCHED = "<unmatched>"
# nginx's status for a request whose client hung up before any answer: not an error of ours.
CLIENT_CLOSED = 499


class Observe:
    """Record each HTTP request's latency (to its response's headers) and log its outcome.

    Outermost, so that answers the inner middleware give on their own (503 overloaded, 413,
    429) are timed too. The path is logged without its query string, which may hold a token.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        answered: list[tuple[int, float]] = []

        async def timed_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                answered.append((message["status"], time.perf_counter() - started))
            await send(message)

        failed = True
        try:
            await self.app(scope, receive, timed_send)
            failed = False
        finally:
            # No answer: a failure (the server answers 500), or a client that went away.
            unanswered = 500 if failed else CLIENT_CLOSED
            status, seconds = answered[0] if answered else (unanswered,
                                                            time.perf_counter() - started)
            route, path = _route_and_path(scope)
            metrics.HTTP_REQUEST_SECONDS.labels(scope["method"], route, str(status)).observe(
                seconds)
            log.info("%s %s %d", scope["method"], path, status, extra={
                "method": scope["method"], "path": path, "route": route,
                "status": status, "duration_ms": round(seconds * 1000, 3),
                "request_id": scope.get("state", {}).get("request_id")})


def _route_and_path(scope: Scope) -> tuple[str, str]:
    """The matched route's template (/api/v1/orders/{order_id}: each path parameter's value
    back to its name; a mount, such as static files, is its root plus {path}) and the path to
    log: the request's own, with a parameter named like a secret (a webhook's {token}) redacted.
    """
    path: str = scope["path"]
    if "route" not in scope:
        return (f"{scope['root_path']}/{{path}}" if "endpoint" in scope else UNMATCHED), path
    names = {str(value): name for name, value in scope.get("path_params", {}).items()}
    template, logged = [], []
    for part in path.split("/"):
        name = names.pop(part, None)
        template.append(part if name is None else f"{{{name}}}")
        logged.append(logs.REDACTED if name is not None and logs.is_secret_name(name) else part)
    return "/".join(template), "/".join(logged)
