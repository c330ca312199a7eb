"""Who is calling, as the audit log records it: the user and API key, the client address the
rate limiter counts, and the request id. Each change writes its entry in its own transaction
(shared.db.repositories.audit), so that nothing is audited that did not happen and nothing
happens unaudited.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from pydantic import AwareDatetime, BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncConnection

from api import ratelimit
from api.deps import PrincipalDep
from api.pages import keyset_cursor, read_keyset_cursor
from api.query import IsoAwareDatetime
from api.security import Principal
from shared.db.repositories import audit
from shared.domain.audit import Action
from shared.messaging.order_view import json_value


@dataclass(frozen=True, slots=True)
class Who:
    """The caller of a request: a user (with the API key used, if any) or nobody yet."""

    user_id: uuid.UUID | None
    api_key_id: uuid.UUID | None
    ip: str | None
    request_id: str | None

    @classmethod
    def of(cls, request: Request, principal: Principal | None = None) -> Who:
        """The caller of `request`; anonymous without `principal` (a login, a code request)."""
        address = ratelimit.client_ip(request.scope)
        try:
            ip: str | None = str(ipaddress.ip_address(address))
        except ValueError:  # "unknown", or a test client's made-up name
            ip = None
        return cls(user_id=principal.user_id if principal else None,
                   api_key_id=principal.key_id if principal else None, ip=ip,
                   request_id=getattr(request.state, "request_id", None))

    def as_user(self, user_id: uuid.UUID) -> Who:
        """The same caller once it has proved to be `user_id` (a successful login)."""
        return dataclasses.replace(self, user_id=user_id)

    async def record(self, conn: AsyncConnection, action: Action, *,
                     user_id: uuid.UUID | None = None, target: tuple[str, object] | None = None,
                     details: Mapping[str, Any] | None = None) -> None:
        """Append `action`, done by this caller to `user_id`'s account (default: its own)."""
        await audit.record(conn, audit.Entry(
            action=action, user_id=user_id or self.user_id, actor_user_id=self.user_id,
            api_key_id=self.api_key_id, target_type=target[0] if target else None,
            target_id=str(target[1]) if target else None, details=details or {},
            ip=self.ip, request_id=self.request_id))


async def calling(request: Request, principal: PrincipalDep) -> Who:
    """The authenticated caller, for a route that audits what it changes."""
    return Who.of(request, principal)


WhoDep = Annotated[Who, Depends(calling)]


ActionQuery = Annotated[Action | None, Query(description="only entries of this action")]
SinceQuery = Annotated[IsoAwareDatetime | None, Query(
    description="only entries at or after this time (with its time zone)")]
UntilQuery = Annotated[IsoAwareDatetime | None, Query(
    description="only entries before this time (with its time zone)")]


class AuditEntry(BaseModel):
    """Who did what to whose account, when, from where, under which request."""

    id: uuid.UUID
    at: AwareDatetime
    action: Action
    user_id: uuid.UUID | None = Field(description="whose account the entry is about")
    actor_user_id: uuid.UUID | None = Field(
        description="who acted: the user, an admin, or null (not logged in, or the command"
                    " line)")
    api_key_id: uuid.UUID | None = Field(description="the API key the actor called with")
    target_type: str | None = Field(description="what was acted on: order, api_key, account…")
    target_id: str | None
    details: dict[str, Any] = Field(description="what changed; never a secret")
    ip: str | None = Field(description="the client address, as the rate limits count it")
    request_id: str | None = Field(description="the X-Request-ID of the request")


class AuditPage(BaseModel):
    """A page of audit entries, newest first; pass `next_cursor` as `cursor` for the next."""

    items: list[AuditEntry]
    next_cursor: str | None


async def page(conn: AsyncConnection, filters: audit.Filters, limit: int,
               cursor: str | None) -> dict[str, Any]:
    """A page of the entries `filters` select, newest first, in AuditPage's shape."""
    after = read_keyset_cursor(cursor) if cursor else None
    rows = await audit.page(conn, filters, limit=limit, after=after)
    last = rows[-1] if len(rows) == limit else None
    items = [{"at": json_value(row["created_at"]), "details": row["details"],
              **{name: json_value(value) for name, value in row.items()
                 if name not in ("created_at", "details")}}
             for row in rows]
    return {"items": items,
            "next_cursor": keyset_cursor(last["created_at"], last["id"]) if last else None}
