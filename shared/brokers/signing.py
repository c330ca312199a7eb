"""The generic webhook signature: HMAC-SHA256 over a timestamp and the raw body.

    X-Broker-Signature:     hex HMAC-SHA256(secret, "<timestamp>." + raw body)
    X-Broker-Signature-Alg: HMAC-SHA256
    X-Broker-Timestamp:     unix seconds; refused outside +/- the tolerance (replays)

Any of the configured secrets may have made the signature, so a secret can be rotated without
dropping deliveries (README: "Webhook secret rotation").
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from typing import Final

SIGNATURE_HEADER: Final = "X-Broker-Signature"
ALGORITHM_HEADER: Final = "X-Broker-Signature-Alg"
TIMESTAMP_HEADER: Final = "X-Broker-Timestamp"
ALGORITHM: Final = "HMAC-SHA256"


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The hex signature of `body` sent at `timestamp` under `secret`."""
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signed_headers(secret: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The headers a sender attaches to `body`."""
    return {SIGNATURE_HEADER: signature(secret, timestamp, body), ALGORITHM_HEADER: ALGORITHM,
            TIMESTAMP_HEADER: str(timestamp)}


def verify(headers: Mapping[str, str], body: bytes, secrets: Sequence[str], *, now: float,
           tolerance_seconds: int) -> bool:
    """True if `body` carries a fresh signature made with one of `secrets`.

    Every secret is compared, in constant time, so timing tells nothing about which one or how
    much of a signature matched.
    """
    lowered = {key.lower(): value for key, value in headers.items()}
    given = lowered.get(SIGNATURE_HEADER.lower(), "").strip().lower()
    algorithm = lowered.get(ALGORITHM_HEADER.lower(), "").strip().upper()
    stamp = lowered.get(TIMESTAMP_HEADER.lower(), "").strip()
    if not given or algorithm != ALGORITHM or not stamp.isdigit():
        return False
    timestamp = int(stamp)
    if abs(now - timestamp) > tolerance_seconds:
        return False
    matched = False
    for secret in secrets:
        matched |= hmac.compare_digest(signature(secret, timestamp, body), given)
    return matched
