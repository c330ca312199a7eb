"""API key routes: create (the key is shown once), list, read and delete your keys.

Creating and deleting keys takes a logged-in user's access token: a key cannot mint or
revoke keys (`login_only`); listing them takes a `read` key at least.
"""

from __future__ import annotations

from fastapi import APIRouter, Response

from api.apikeys import service
from api.apikeys.schemas import ApiKeyOut, CreateApiKey, CreatedApiKey
from api.audit import WhoDep
from api.deps import ClockDep, EngineDep, PrincipalDep, SettingsDep, login_only
from api.paths import KEY_ID
from api.responses import LOGIN_ONLY, READ, Responses
from shared.domain.audit import Action

router = APIRouter(prefix="/api-keys", tags=["api keys"])

_NOT_FOUND: Responses = {
    404: {"description": "no such key among yours (another user's key is not found either)"},
}


@router.post(
    "", status_code=201, response_model=CreatedApiKey, dependencies=[login_only()],
    responses={**LOGIN_ONLY, 422: {"description": "invalid name, scopes, expiry or allow-list, or"
                                              " too many keys; `details.field` names the field"}},
)
async def create_api_key(body: CreateApiKey, principal: PrincipalDep, who: WhoDep,
                         engine: EngineDep, settings: SettingsDep, clock: ClockDep,
                         response: Response) -> CreatedApiKey:
    """Create an API key; the key itself is in this answer only."""
    async with engine.begin() as conn:
        created = await service.create(conn, settings, principal.user_id, body, clock.now())
        await who.record(conn, Action.API_KEY_CREATED, target=("api_key", created.id),
                         details={"name": created.name, "scopes": created.scopes,
                                  "allowed_ips": created.allowed_ips,
                                  "expires_at": created.expires_at})
    response.headers["Cache-Control"] = "no-store"  # it carries a secret
    return created


@router.get("", response_model=list[ApiKeyOut], responses=READ)
async def list_api_keys(principal: PrincipalDep, engine: EngineDep) -> list[ApiKeyOut]:
    """List your API keys, newest first, without their secrets."""
    async with engine.connect() as conn:
        return await service.list_for(conn, principal.user_id)


@router.get(f"/{KEY_ID}", response_model=ApiKeyOut, responses={**READ, **_NOT_FOUND})
async def get_api_key(key_id: str, principal: PrincipalDep, engine: EngineDep) -> ApiKeyOut:
    """Return one of your API keys, without its secret."""
    async with engine.connect() as conn:
        return await service.get(conn, principal.user_id, key_id)


@router.delete(f"/{KEY_ID}", status_code=204, response_class=Response,
               dependencies=[login_only()], responses={**LOGIN_ONLY, **_NOT_FOUND})
async def delete_api_key(key_id: str, principal: PrincipalDep, who: WhoDep,
                         engine: EngineDep) -> Response:
    """Delete one of your API keys; its next call is refused."""
    async with engine.begin() as conn:
        await service.delete(conn, principal.user_id, key_id)
        await who.record(conn, Action.API_KEY_REVOKED, target=("api_key", key_id))
    return Response(status_code=204)
