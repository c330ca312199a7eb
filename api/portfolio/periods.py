"""The periods of the portfolio routes' queries: instants compared with stored UTC times."""

from __future__ import annotations

from datetime import datetime

from api.errors import ApiError


def require_zones(**instants: datetime | None) -> None:
    """422 naming the first instant given without its time zone: it names no instant."""
    for name, value in instants.items():
        if value is not None and value.tzinfo is None:
            raise ApiError(422, f"{name} needs its time zone (Z or an offset)",
                           code="invalid_request", details={"field": name})


def require_order(since: datetime | None, until: datetime | None) -> None:
    """422 when the period ends before it starts."""
    if since is not None and until is not None and since > until:
        raise ApiError(422, "from is after to", code="invalid_request", details={"field": "from"})
