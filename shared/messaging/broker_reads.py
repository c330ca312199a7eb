"""What a broker itself reports of an account (its positions, holdings and funds), asked by
the API through the worker, which alone talks to brokers, and answered through Redis.

The API looks in the cache first; when the answer is not there it queues `broker.read` on the
broker's queue and waits for the key to appear. The worker calls the adapter and stores the
answer, or the broker's error, for BROKER_READ_CACHE_SECONDS: every request in that time is
answered from it, so a screen that refreshes every second asks the broker once in a while.
"""

from __future__ import annotations

import json
import uuid
from typing import Any, Final, Literal

Kind = Literal["positions", "funds"]
KINDS: Final = ("positions", "funds")


def cache_key(account_id: uuid.UUID | str, kind: str) -> str:
    """The Redis key of an account's broker answer of this kind."""
    return f"broker_read:{account_id}:{kind}"


def encode(payload: dict[str, Any]) -> str:
    """The cached form of an answer: {"data": …} or {"error": {"code", "message"}}."""
    return json.dumps(payload, separators=(",", ":"))


def decode(raw: bytes | str) -> dict[str, Any]:
    """Read what `encode` stored."""
    payload: dict[str, Any] = json.loads(raw)
    return payload
