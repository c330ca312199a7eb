"""The generic webhook signature, version 2: HMAC-SHA256 over the timestamp, the delivery id
and the raw body.

    X-Broker-Signature:     v2=<hex HMAC-SHA256(secret, string to sign)>
    X-Broker-Signature-Alg: HMAC-SHA256
    X-Broker-Timestamp:     unix seconds; refused outside +/- the tolerance (replays)
    X-Broker-Delivery-Id:   the sender's id of this delivery, 1 to 128 visible ASCII characters

    string to sign = "v2" LF <timestamp> LF <delivery id> LF <raw body>

The delivery id is signed because it is what a redelivery is recognised by: unsigned, a
captured delivery could be replayed within the tolerance under fresh ids, each one stored and
re-fetched from the broker as new. Signed, a replay under its own id is a duplicate and one
under any other id fails verification. LF cannot occur in a header value, so no choice of
delivery id and body can make two deliveries sign the same string.

Version 1 signed "<timestamp>." + body and sent the bare hex digest; such a signature raises
`OutdatedSignature`, so that its sender learns to upgrade rather than to check its secret.
Any of the configured secrets may have made the signature, so a secret can be rotated without
dropping deliveries (README: "Webhook secret rotation").
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from typing import Final

SIGNATURE_HEADER: Final = "X-Broker-Signature"
ALGORITHM_HEADER: Final = "X-Broker-Signature-Alg"
TIMESTAMP_HEADER: Final = "X-Broker-Timestamp"
DELIVERY_ID_HEADER: Final = "X-Broker-Delivery-Id"
ALGORITHM: Final = "HMAC-SHA256"
VERSION: Final = "v2"
MAX_DELIVERY_ID: Final = 128

_DELIVERY_ID = re.compile(rf"[\x21-\x7e]{{1,{MAX_DELIVERY_ID}}}")
_V1_SIGNATURE = re.compile(r"[0-9a-f]{64}")


class OutdatedSignature(ValueError):
    """A delivery signed in the retired version 1 format (timestamp and body only)."""


def string_to_sign(timestamp: int, delivery_id: str, body: bytes) -> bytes:
    """What the signature covers."""
    return f"{VERSION}\n{timestamp}\n{delivery_id}\n".encode() + body


def signature(secret: str, timestamp: int, delivery_id: str, body: bytes) -> str:
    """The `X-Broker-Signature` value of `body`, delivered as `delivery_id` at `timestamp`."""
    digest = hmac.new(secret.encode(), string_to_sign(timestamp, delivery_id, body),
                      hashlib.sha256).hexdigest()
    return f"{VERSION}={digest}"


def signed_headers(secret: str, timestamp: int, body: bytes,
                   delivery_id: str) -> dict[str, str]:
    """The headers a sender attaches to `body`."""
    return {SIGNATURE_HEADER: signature(secret, timestamp, delivery_id, body),
            ALGORITHM_HEADER: ALGORITHM, TIMESTAMP_HEADER: str(timestamp),
            DELIVERY_ID_HEADER: delivery_id}


def verify(headers: Mapping[str, str], body: bytes, secrets: Sequence[str], *, now: float,
           tolerance_seconds: int) -> bool:
    """True if `body` carries a fresh version 2 signature made with one of `secrets`.

    Raises OutdatedSignature for a version 1 signature (checked for its form only). Every
    secret is compared, in constant time, so timing tells nothing about which one or how much
    of a signature matched.
    """
    lowered = {key.lower(): value for key, value in headers.items()}
    given = lowered.get(SIGNATURE_HEADER.lower(), "").strip().lower()
    algorithm = lowered.get(ALGORITHM_HEADER.lower(), "").strip().upper()
    stamp = lowered.get(TIMESTAMP_HEADER.lower(), "").strip()
    delivery_id = lowered.get(DELIVERY_ID_HEADER.lower(), "")
    if _V1_SIGNATURE.fullmatch(given):
        raise OutdatedSignature(
            f"{SIGNATURE_HEADER} is in the retired version 1 format; sign version 2: "
            f"{VERSION}=hex HMAC-SHA256 of \"{VERSION}\\n<timestamp>\\n<delivery id>\\n<body>\""
            f" with {DELIVERY_ID_HEADER} set")
    if (not given or algorithm != ALGORITHM or not (stamp.isascii() and stamp.isdigit())
            or not _DELIVERY_ID.fullmatch(delivery_id)):
        return False
    timestamp = int(stamp)
    if abs(now - timestamp) > tolerance_seconds:
        return False
    matched = False
    for secret in secrets:
        matched |= hmac.compare_digest(signature(secret, timestamp, delivery_id, body), given)
    return matched
