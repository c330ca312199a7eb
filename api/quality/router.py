"""Quality checks: where a broker and our books disagree, for the account's owner to see."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from fastapi.responses import JSONResponse

from api.deps import EngineDep, PrincipalDep
from shared.db.repositories import quality
from shared.messaging.order_view import json_value

router = APIRouter(tags=["quality"])


@router.get("/quality-checks", responses={401: {"description": "missing or invalid token"}})
async def list_quality_checks(principal: PrincipalDep, engine: EngineDep,
                              limit: Annotated[int, Query(ge=1, le=500)] = 100) -> Response:
    """List discrepancies found between your brokers and ordergate's books, newest first."""
    async with engine.connect() as conn:
        rows = await quality.list_for_user(conn, principal.user_id, limit)
    return JSONResponse([{key: json_value(value) if key != "details" else value
                          for key, value in row.items()} for row in rows])
