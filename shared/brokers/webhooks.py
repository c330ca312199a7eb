"""Authenticate a broker's webhook delivery and say which order it is about.

Three schemes, by broker:
- zerodha: Kite's postback checksum sha256(order_id + order_timestamp + api_secret), checked
  with the api_secret of the connection named by the payload's user_id;
- upstox: no signature exists; the unguessable token in our URL path names the connection;
- every other broker (and relays): the generic HMAC scheme of `shared.brokers.signing`.
Whatever the scheme, the payload is only a trigger: the worker re-fetches the order and its
trades from the broker before anything is applied (Kite's checksum does not cover quantities).
"""

from __future__ import annotations

import hmac
import importlib
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, cast

from shared.brokers import signing
from shared.brokers.catalog import Broker
from shared.brokers.types import BrokerSession, WebhookTrigger


class WireModule(Protocol):
    def parse_webhook(self, body: bytes) -> WebhookTrigger: ...


class ChecksumWire(WireModule, Protocol):
    def postback_checksum_ok(self, body: bytes, api_secret: str) -> bool: ...


@dataclass(frozen=True)
class Candidate:
    """A connection a delivery may belong to."""

    account_id: uuid.UUID
    session: BrokerSession
    webhook_token: str | None


@dataclass(frozen=True)
class Verified:
    trigger: WebhookTrigger
    # The connection the delivery proved it belongs to (None for the generic scheme).
    account_id: uuid.UUID | None


def wire(broker: Broker) -> WireModule:
    """The pure wire module of a broker."""
    return cast(WireModule, importlib.import_module(f"shared.brokers.{broker.value}.wire"))


def parse(broker: Broker, body: bytes) -> WebhookTrigger | None:
    """The trigger in a delivery's body, or None if the body is not the broker's format."""
    try:
        return wire(broker).parse_webhook(body)
    except (ValueError, KeyError, TypeError, RecursionError):  # RecursionError: nested too deep
        return None


def authenticate(broker: Broker, *, body: bytes, headers: Mapping[str, str],
                 path_token: str | None, candidates: Sequence[Candidate],
                 secrets: Sequence[str], now: float, tolerance_seconds: int) -> Verified | None:
    """The verified trigger of a delivery, or None: unsigned, forged, stale or malformed.

    Raises signing.OutdatedSignature for a generic delivery signed in the retired format.
    """
    if broker is Broker.ZERODHA:
        return _kite_postback(body, candidates)
    if broker is Broker.UPSTOX:
        return _by_path_token(broker, body, path_token, candidates)
    if not signing.verify(headers, body, secrets, now=now, tolerance_seconds=tolerance_seconds):
        return None
    trigger = parse(broker, body)
    return Verified(trigger, None) if trigger is not None else None


def _kite_postback(body: bytes, candidates: Sequence[Candidate]) -> Verified | None:
    trigger = parse(Broker.ZERODHA, body)
    if trigger is None:
        return None
    module = cast(ChecksumWire, wire(Broker.ZERODHA))
    for candidate in candidates:
        same_user = candidate.session.broker_user_id == (trigger.broker_user_id or "")
        if same_user and module.postback_checksum_ok(body, candidate.session.api_secret):
            return Verified(trigger, candidate.account_id)
    return None


def _by_path_token(broker: Broker, body: bytes, path_token: str | None,
                   candidates: Sequence[Candidate]) -> Verified | None:
    if not path_token:
        return None
    owner = None
    for candidate in candidates:
        token = candidate.webhook_token or ""
        if token and hmac.compare_digest(token.encode(), path_token.encode()):
            owner = candidate
    trigger = parse(broker, body)
    if owner is None or trigger is None:
        return None
    return Verified(trigger, owner.account_id)
