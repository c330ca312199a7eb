"""Broker logins: exchange what the user brings (request token, code, TOTP) for a session.

The API calls these when a connection is activated or refreshed; each broker's module
(`shared.brokers.<name>.session`) speaks its documented login endpoint over httpx (the API never
imports a broker SDK). Failures use `shared.brokers.types` errors: Rejected for bad credentials,
NotSent/Unknown when the broker cannot be reached, SessionExpired when only a new login helps.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Protocol, cast

import httpx

from shared.brokers.catalog import Broker
from shared.brokers.types import BrokerSession
from shared.settings import Settings


@dataclass(frozen=True)
class LoginForm:
    """Everything a broker's login may need; each broker reads the fields it documents."""

    # Secrets stay out of repr(), so a logged form or a traceback shows none of them.
    api_key: str = ""
    api_secret: str = field(default="", repr=False)
    request_token: str = field(default="", repr=False)  # Kite: from the login redirect
    code: str = field(default="", repr=False)  # Upstox: OAuth authorization code
    client_code: str = ""  # Angel One client code; IBKR account id
    password: str = field(default="", repr=False)  # Angel One PIN
    totp: str = field(default="", repr=False)  # Angel One / Groww TOTP


class SessionModule(Protocol):
    async def activate(self, client: httpx.AsyncClient, settings: Settings,
                       form: LoginForm) -> BrokerSession: ...

    async def refresh(self, client: httpx.AsyncClient, settings: Settings,
                      current: BrokerSession, form: LoginForm) -> BrokerSession: ...


def session_module(broker: Broker) -> SessionModule:
    """The login module of a real broker."""
    return cast(SessionModule, importlib.import_module(f"shared.brokers.{broker.value}.session"))
