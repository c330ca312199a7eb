"""Request and response bodies of the API key endpoints."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)

from api.apikeys import keys
from api.security import Scope

MAX_ALLOWED_IPS = 32

KeyName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=64,
                      pattern=r"^[^\x00-\x1f\x7f]+$"),
    Field(description="1 to 64 characters, no control characters", examples=["trading bot"]),
]


def _network(text: str) -> str:
    return str(keys.parse_network(text))  # normalised: 10.0.0.7 is stored as 10.0.0.7/32


Network = Annotated[str, Field(max_length=64, examples=["203.0.113.7", "10.0.0.0/8"]),
                    AfterValidator(_network)]


class CreateApiKey(BaseModel):
    """A new key's name, scopes and optional expiry and IP allow-list."""

    model_config = ConfigDict(extra="forbid")

    name: KeyName
    scopes: list[Scope] = Field(
        min_length=1, max_length=len(Scope),
        description="`read`: the GET routes; `trade`: also place, modify, cancel, close and"
                    " halt (it includes `read`)")
    expires_at: AwareDatetime | None = Field(
        default=None, description="when the key stops working; in the future, with a time zone")
    allowed_ips: list[Network] | None = Field(
        default=None, min_length=1, max_length=MAX_ALLOWED_IPS,
        description="addresses or CIDR networks calls may come from; omit to allow any")

    @field_validator("scopes")
    @classmethod
    def _distinct(cls, scopes: list[Scope]) -> list[Scope]:
        if len(set(scopes)) != len(scopes):
            raise ValueError("each scope may be given once")
        return sorted(scopes)

    @field_validator("expires_at")
    @classmethod
    def _utc(cls, expires_at: datetime | None) -> datetime | None:
        try:
            return None if expires_at is None else expires_at.astimezone(UTC)
        except OverflowError:  # e.g. 9999-12-31T23:00-05:00: past what PostgreSQL stores
            raise ValueError("expires_at is out of range") from None


class ApiKeyOut(BaseModel):
    """A key as its owner sees it: never its secret."""

    id: uuid.UUID
    name: str
    prefix: str = Field(description="the key's first characters, to tell keys apart")
    scopes: list[Scope]
    allowed_ips: list[str] | None
    expires_at: AwareDatetime | None
    last_used_at: AwareDatetime | None = Field(description="to the minute")
    created_at: AwareDatetime


class CreatedApiKey(ApiKeyOut):
    """A new key, with the key itself: shown in this answer only, never again."""

    key: str = Field(description="send as `Authorization: Bearer og_…`; store it now")
