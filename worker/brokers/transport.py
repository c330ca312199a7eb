"""HTTP calls to brokers with failures classified the same way for every adapter."""

from __future__ import annotations

from typing import Any

import httpx

from shared.brokers.catalog import Broker
from shared.brokers.types import NotSent, Unknown


async def request(client: httpx.AsyncClient, method: str, url: str, *, broker: Broker,
                  changes_state: bool, **kwargs: Any) -> httpx.Response:
    """Send one request; transport failures become NotSent or Unknown, never a raw exception.

    A connection that was never made certainly changed nothing. A request that was sent and got
    no answer may have taken effect when it changes state (a place), so it is Unknown; a read
    that timed out is simply safe to repeat.
    """
    try:
        return await client.request(method, url, **kwargs)
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
        raise NotSent(f"{broker.value} is unreachable: {type(exc).__name__}",
                      broker=broker, code="unreachable") from exc
    except httpx.TransportError as exc:
        if changes_state:
            raise Unknown(f"no answer from {broker.value} to {method} {httpx.URL(url).path}: "
                          f"{type(exc).__name__}", broker=broker, code="no_answer") from exc
        raise NotSent(f"{broker.value} did not answer a read: {type(exc).__name__}",
                      broker=broker, code="no_answer") from exc
