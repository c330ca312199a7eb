"""HTTP calls to brokers with failures classified the same way for every adapter."""

from __future__ import annotations

from typing import Any, Final

import httpx

from shared.brokers.catalog import Broker
from shared.brokers.types import NotSent, Unknown

# The largest answer read from a broker: its order books and trade lists are pages of at most
# a few hundred rows, far below this; a larger one is not a broker's answer.
MAX_RESPONSE_BYTES: Final = 8 * 1024 * 1024


async def request(client: httpx.AsyncClient, method: str, url: str, *, broker: Broker,
                  changes_state: bool, **kwargs: Any) -> httpx.Response:
    """Send one request; transport failures become NotSent or Unknown, never a raw exception.

    A connection that was never made certainly changed nothing. A request that was sent and got
    no answer may have taken effect when it changes state (a place), so it is Unknown; a read
    that timed out is simply safe to repeat.
    """
    try:
        async with client.stream(method, url, **kwargs) as response:
            body = await _bounded(response)
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
        raise NotSent(f"{broker.value} is unreachable: {type(exc).__name__}",
                      broker=broker, code="unreachable") from exc
    except httpx.TransportError as exc:
        if changes_state:
            raise Unknown(f"no answer from {broker.value} to {method} {httpx.URL(url).path}: "
                          f"{type(exc).__name__}", broker=broker, code="no_answer") from exc
        raise NotSent(f"{broker.value} did not answer a read: {type(exc).__name__}",
                      broker=broker, code="no_answer") from exc
    if body is None:
        kind = Unknown if changes_state else NotSent
        raise kind(f"{broker.value} answered more than {MAX_RESPONSE_BYTES} bytes to {method}"
                   f" {httpx.URL(url).path}; not read", broker=broker, code="too_large")
    # The body as read (decoded): the headers that described its encoding no longer apply.
    headers = [(k, v) for k, v in response.headers.raw
               if k.lower() not in (b"content-encoding", b"content-length")]
    return httpx.Response(response.status_code, headers=headers, content=body,
                          request=response.request)


async def _bounded(response: httpx.Response) -> bytes | None:
    """The decoded body, or None past MAX_RESPONSE_BYTES (a compressed bomb counts in full)."""
    chunks, size = [], 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > MAX_RESPONSE_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)
