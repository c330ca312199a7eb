"""Request and response bodies of broker connections. Secrets come in; none go out."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from fastapi import Path
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr

from shared.brokers.catalog import REAL_BROKERS
from shared.brokers.india import valid_protection

# Documented as the closed set it is; the routes parse it themselves, so an unknown name gets
# their own 422 naming it (or a webhook's 404) rather than a generic one.
BrokerName = Annotated[str, Path(description="a real broker: the built-in paper one takes no"
                                             " connection and no webhook",
                                 json_schema_extra={"enum": sorted(b.value for b in REAL_BROKERS)})]

# SecretStr: a secret never appears in a repr, a log line or a validation error's input.
Secret = Annotated[SecretStr | None, Field(min_length=1, max_length=1024)]


class LoginFields(BaseModel):
    """What a broker's login takes; each broker reads the fields it documents."""

    model_config = ConfigDict(extra="forbid")

    api_key: Secret = Field(default=None, description="your broker app's API key")
    api_secret: Secret = Field(default=None, description="your broker app's API secret")
    request_token: Secret = Field(
        default=None, description="Zerodha: the request_token from the Kite login redirect")
    code: Secret = Field(
        default=None, description="Upstox: the authorization code from the OAuth redirect")
    client_code: Annotated[str | None, Field(min_length=1, max_length=64)] = Field(
        default=None, description="Angel One: client code; IBKR: the IB account id")
    password: Secret = Field(default=None, description="Angel One: your PIN")
    totp: Secret = Field(default=None, description="Angel One / Groww: the current TOTP code")


def _protection(value: Decimal | None) -> Decimal | None:
    if value is not None and not valid_protection(value):
        raise ValueError("market_protection must be -1 (automatic) or above 0 up to 100")
    return value


MarketProtection = Annotated[
    Decimal | None, Field(default=None, max_digits=5, decimal_places=2, description=(
        "Zerodha and Upstox: the market protection of this connection's MARKET and SL-M "
        "orders, a percentage above 0 up to 100, or -1 for the broker's automatic protection "
        "(the default); Upstox is sent a percentage only")),
    AfterValidator(_protection)]


class ConnectRequest(LoginFields):
    """A broker login to exchange for a session, with an optional label of your own."""

    label: Annotated[str | None, Field(min_length=1, max_length=64)] = None
    market_protection: MarketProtection = None


class RefreshRequest(LoginFields):
    """What the broker needs to renew the session; anything omitted comes from the stored one."""

    market_protection: MarketProtection = None


class ConnectionOut(BaseModel):
    """A connected broker account. Credentials are stored encrypted and never returned."""

    id: uuid.UUID = Field(description="the account id; pass it as account_id when ordering")
    broker: str
    label: str | None
    broker_user_id: str | None = Field(description="your user or account id at the broker")
    status: Literal["active", "expired"] = Field(
        description="expired: log in again (POST a new login or refresh)")
    token_expires_at: datetime | None
    last_error: str | None
    currency: str
    webhook_url: str = Field(description="where to point the broker's order postbacks")
    created_at: datetime
    updated_at: datetime
