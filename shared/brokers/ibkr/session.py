"""IBKR "logins": there is no REST login; the gateway the worker connects to is already logged in.

The user names which of the gateway's accounts the connection trades (its account id, e.g.
DU1234567 for a paper account, U1234567 for a live one); orders carry it as `Order.account`.
"""

from __future__ import annotations

import re
from typing import Final

import httpx

from shared.brokers.ibkr.wire import BROKER
from shared.brokers.sessions import LoginForm
from shared.brokers.types import BrokerSession, Rejected
from shared.settings import Settings

# IB account ids: one to three capital letters (U, DU, F, DF, I...) then digits.
_ACCOUNT_ID: Final = re.compile(r"[A-Z]{1,3}[0-9]{5,9}")


async def activate(client: httpx.AsyncClient, settings: Settings,
                   form: LoginForm) -> BrokerSession:
    """A session for the IB account named in `form.client_code` (checked for shape only)."""
    account = form.client_code.strip().upper()
    if not _ACCOUNT_ID.fullmatch(account):
        raise Rejected(
            "an IBKR connection needs the IB account id in client_code, letters then digits "
            f"such as DU1234567, was {form.client_code!r}",
            broker=BROKER, code="invalid_account", details={"field": "client_code"})
    return BrokerSession(broker_user_id=account)


async def refresh(client: httpx.AsyncClient, settings: Settings, current: BrokerSession,
                  form: LoginForm) -> BrokerSession:
    """The current session: the gateway keeps its own login, there is no token to renew."""
    return current
