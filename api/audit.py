"""Who is calling, as the audit log records it: the user and API key, the client address the
rate limiter counts, and the request id. Each change writes its entry in its own transaction
(shared.db.repositories.audit), so that nothing is audited that did not happen and nothing
happens unaudited.
"""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncConnection

from api import ratelimit
from api.deps import PrincipalDep
from api.security import Principal
from shared.db.repositories import audit
from shared.domain.audit import Action


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
