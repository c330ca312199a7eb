"""Settings routes: your profile and your trading preferences. PUT replaces the document.

Changing them takes a logged-in user's access token (api/main.py mounts this router with
`login_only`): a bot's API key must not switch off its owner's order confirmations.
"""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import EngineDep, PrincipalDep
from api.responses import LOGIN_ONLY, MALFORMED_BODY, READ, Responses
from api.settings_routes import service
from api.settings_routes.schemas import Preferences, PreferencesOut, Profile, ProfileOut

router = APIRouter(prefix="/settings", tags=["settings"])

_WRITE: Responses = {**LOGIN_ONLY, **MALFORMED_BODY}


@router.get("/profile", response_model=ProfileOut, responses=READ)
async def get_profile(principal: PrincipalDep, engine: EngineDep) -> ProfileOut:
    """Return your profile: name, mobile number and time zone."""
    async with engine.connect() as conn:
        return await service.get_profile(conn, principal.user_id)


@router.put("/profile", response_model=ProfileOut, responses={
    **_WRITE, 422: {"description": "a missing, unknown or invalid field (a bad mobile number,"
                                   " an unknown time zone…); `details.field` names it"}})
async def put_profile(body: Profile, principal: PrincipalDep, engine: EngineDep) -> ProfileOut:
    """Replace your profile."""
    async with engine.begin() as conn:
        return await service.put_profile(conn, principal.user_id, body)


@router.get("/preferences", response_model=PreferencesOut, responses=READ)
async def get_preferences(principal: PrincipalDep, engine: EngineDep) -> PreferencesOut:
    """Return your preferences: default account, order type, time in force, confirmations."""
    async with engine.connect() as conn:
        return await service.get_preferences(conn, principal.user_id)


@router.put("/preferences", response_model=PreferencesOut, responses={
    **_WRITE,
    404: {"description": "`default_account_id` is not one of your accounts"},
    422: {"description": "a missing, unknown or invalid field; `details.field` names it"}})
async def put_preferences(body: Preferences, principal: PrincipalDep,
                          engine: EngineDep) -> PreferencesOut:
    """Replace your preferences."""
    async with engine.begin() as conn:
        return await service.put_preferences(conn, principal.user_id, body)
