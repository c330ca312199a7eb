"""The API key format, its hash, and the checks made on each call with a key. Pure: no I/O.

A key is `og_<key id, 32 hex>_<secret, 43 url-safe base64>`: the id finds the row, the whole
key is compared by its SHA-256. The secret has 256 random bits, so a fast hash is the right
one (a password hash would put ~0.1 s of CPU on every request and add nothing).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

PREFIX: Final = "og_"
_SECRET_BYTES: Final = 32
_SHAPE: Final = re.compile(r"og_([0-9a-f]{32})_[A-Za-z0-9_-]{43}")
# last_used_at is kept to this resolution: a bot calling 50 times a second writes once a minute.
LAST_USED_RESOLUTION: Final = timedelta(minutes=1)
# Compared against when the key id is unknown, so that case costs what a wrong secret costs.
_NO_HASH: Final = hashlib.sha256(b"no such key").hexdigest()

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class IssuedKey:
    """A new key: the token is shown to its owner once; only the hash is stored."""

    key_id: uuid.UUID
    token: str
    secret_hash: str


def issue() -> IssuedKey:
    """Make a new random key."""
    key_id = uuid.uuid4()
    token = f"{PREFIX}{key_id.hex}_{secrets.token_urlsafe(_SECRET_BYTES)}"
    return IssuedKey(key_id=key_id, token=token, secret_hash=hash_token(token))


def is_api_key(token: str) -> bool:
    """Whether a bearer token is meant as an API key (a JWT never starts with `og_`)."""
    return token.startswith(PREFIX)


def key_id_of(token: str) -> uuid.UUID | None:
    """The key id inside a well-formed key, or None."""
    shape = _SHAPE.fullmatch(token)
    return uuid.UUID(hex=shape.group(1)) if shape else None


def display_prefix(key_id: uuid.UUID) -> str:
    """The first characters of a key, enough for its owner to tell keys apart."""
    return f"{PREFIX}{key_id.hex[:8]}"


def hash_token(token: str) -> str:
    """The only form in which a key is stored: its SHA-256, hex."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def matches(token: str, stored_hash: str | None) -> bool:
    """Whether `token` is the key stored as `stored_hash`, in constant time."""
    same = hmac.compare_digest(hash_token(token), stored_hash or _NO_HASH)
    return same and stored_hash is not None


def is_expired(expires_at: datetime | None, now: datetime) -> bool:
    """Whether a key with this expiry no longer works at `now`."""
    return expires_at is not None and expires_at <= now


def last_used_due(last_used_at: datetime | None, now: datetime) -> bool:
    """Whether a call at `now` should record itself as the key's last use."""
    return last_used_at is None or now - last_used_at >= LAST_USED_RESOLUTION


def parse_network(text: str) -> IpNetwork:
    """An allow-list entry: one address (`203.0.113.7`) or a network (`10.0.0.0/8`).

    Raises ValueError in full words; a network with host bits set (`10.0.0.1/8`) is refused
    rather than silently widened.
    """
    try:
        return ipaddress.ip_network(text, strict=True)
    except ValueError:
        raise ValueError(f"{text!r} is not an IP address or a network in CIDR notation"
                         " (host bits must be zero, as in 10.0.0.0/8)") from None


def address_allowed(allowed: Iterable[str] | None, host: str | None) -> bool:
    """Whether a call from `host` may use a key with this allow-list (None: from anywhere)."""
    if allowed is None:
        return True
    try:
        address = ipaddress.ip_address(host or "")
    except ValueError:
        return False  # no usable peer address: an allow-list cannot be satisfied
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # a dual-stack socket reports IPv4 peers this way
    return any(address in ipaddress.ip_network(entry) for entry in allowed)
