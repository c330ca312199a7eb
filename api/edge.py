"""What every answer of the API carries, and who may ask: security headers, hosts, CORS."""

from __future__ import annotations

from typing import Final

from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import header_field
from api.middleware import send_error

# Nothing in a JSON answer is to be run, framed or loaded from; a browser tricked into
# rendering one as HTML gets no script.
JSON_CSP: Final = "default-src 'none'; frame-ancestors 'none'"
FRAME_CSP: Final = "frame-ancestors 'none'"
HSTS: Final = "max-age=31536000"
PROBES: Final = frozenset({"/health", "/ready"})
_ALWAYS: Final = ((b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"),
                  (b"x-frame-options", b"DENY"))


class SecurityHeaders:
    """Add the security headers to every answer, keeping any a route set itself.

    A JSON answer is never stored by a browser or a shared cache (Cache-Control: no-store):
    each one is a user's data or a live state. HTML (the docs, the console) keeps its own
    Content-Security-Policy and gets `frame-ancestors 'none'` only when it has none.
    """

    def __init__(self, app: ASGIApp, hsts: bool) -> None:
        self.app = app
        self.fixed = (*_ALWAYS, (b"strict-transport-security", HSTS.encode())) if hsts else _ALWAYS

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.fixed:
                    headers.setdefault(name.decode(), value.decode())
                if _is_json(headers.get("content-type", "")):
                    headers.setdefault("content-security-policy", JSON_CSP)
                    headers.setdefault("cache-control", "no-store")
                else:
                    headers.setdefault("content-security-policy", FRAME_CSP)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _is_json(content_type: str) -> bool:
    essence = content_type.partition(";")[0].strip().lower()
    return essence == "application/json" or essence.endswith("+json")


class TrustedHosts:
    """Answer only requests whose Host is listed (`*.example.com` covers the subdomains);
    any other is a 400 `invalid_host` before any work, and a WebSocket is refused (403).

    A forged Host would otherwise reach whatever builds links from it. The health probes
    answer any host: orchestrators call them by the container's address.
    """

    def __init__(self, app: ASGIApp, hosts: list[str]) -> None:
        self.app = app
        self.exact = {host for host in hosts if not host.startswith("*.")}
        self.suffixes = tuple(host[1:] for host in hosts if host.startswith("*."))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] not in ("http", "websocket") or "*" in self.exact
                or scope["path"] in PROBES):
            await self.app(scope, receive, send)
            return
        host = _host(Headers(scope=scope).get("host", ""))
        if host in self.exact or (host and host.endswith(self.suffixes)):
            await self.app(scope, receive, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
        else:
            await send_error(send, scope, 400, "invalid_host",
                             "this server does not answer for the host this request names",
                             details={"field": header_field("Host"), "host": host})


def _host(header: str) -> str:
    """The name in a Host header, without its port, lower case ("" if there is none)."""
    if header.startswith("["):  # an IPv6 literal: [::1]:8000
        return header[1:].partition("]")[0].lower()
    return header.rpartition(":")[0].lower() if ":" in header else header.lower()


class Cors(CORSMiddleware):
    """Starlette's CORS, for the listed origins only: a request from any other origin passes
    as if CORS did not exist (no CORS header at all; its preflight is a plain OPTIONS), and a
    listed origin's refused preflight is an error in the API's one shape."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        if scope["type"] != "http" or origin is None or not self.is_allowed_origin(origin):
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS" and "access-control-request-method" in headers:
            response = self.preflight_response(request_headers=headers)
            if response.status_code == 400:
                kept = [(name, value) for name, value in response.raw_headers
                        if name.startswith(b"access-control-")]
                await send_error(send, scope, 400, "cors_refused",
                                 bytes(response.body).decode(), headers=kept)
                return
            await response(scope, receive, send)
            return
        await self.simple_response(scope, receive, send, request_headers=headers)
