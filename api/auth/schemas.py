"""Request and response bodies of the auth endpoints."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
    field_validator,
)

from api.settings_routes.schemas import DisplayName

Password = Annotated[str, Field(min_length=8, max_length=128, description="8 to 128 characters")]
Username = Annotated[
    str,
    StringConstraints(min_length=3, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$"),
    Field(description="3 to 64 of letters, digits, '_', '.', '-'"),
]
RefreshToken = Annotated[str, Field(min_length=1, max_length=512)]


def normalise_email(email: str) -> str:
    """Emails compare case-insensitively: store and look them up in lower case."""
    return email.strip().lower()


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RegisterRequest(_Strict):
    """A new user's email, password and optional username."""

    email: EmailStr
    password: Password
    username: Username | None = None

    @field_validator("email")
    @classmethod
    def _lower(cls, email: str) -> str:
        return normalise_email(email)


class LoginRequest(_Strict):
    """Credentials for a JSON login."""

    email: EmailStr
    password: Annotated[str, Field(min_length=1, max_length=128)]

    @field_validator("email")
    @classmethod
    def _lower(cls, email: str) -> str:
        return normalise_email(email)


class RefreshRequest(_Strict):
    """A refresh token to rotate or revoke."""

    refresh_token: RefreshToken


class UserResponse(BaseModel):
    """A registered user."""

    id: uuid.UUID
    email: str
    username: str | None


class TokenResponse(BaseModel):
    """An access token (JWT, short-lived) and an opaque refresh token that rotates on use."""

    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="seconds until the access token expires")


OneTimeCode = Annotated[
    str, StringConstraints(pattern=r"^[0-9]{6}$"),
    Field(description="the 6-digit code from the e-mail", examples=["042917"])]


class OtpRequest(_Strict):
    """The e-mail address to send a login code to."""

    email: EmailStr

    @field_validator("email")
    @classmethod
    def _lower(cls, email: str) -> str:
        return normalise_email(email)


class OtpRequested(BaseModel):
    """The one answer to a code request, whether or not an account has the e-mail."""

    status: Literal["accepted"] = "accepted"
    message: str = Field(
        default="if an account has this e-mail address, a login code is on its way",
        description="the same text for every request: it tells no one who has an account")


class OtpLoginRequest(_Strict):
    """An e-mail address and the code mailed to it."""

    email: EmailStr
    otp: OneTimeCode

    @field_validator("email")
    @classmethod
    def _lower(cls, email: str) -> str:
        return normalise_email(email)


class Me(BaseModel):
    """Your account: how you log in and the name you go by."""

    id: uuid.UUID
    email: str
    username: str | None
    full_name: str | None = Field(description="the same name as the settings profile's `name`")
    created_at: AwareDatetime


class MeUpdate(_Strict):
    """The fields to change; an absent field keeps its value, null clears it."""

    username: Username | None = None
    full_name: DisplayName | None = None


class PasswordChange(_Strict):
    """Your current password, and the new one."""

    current_password: Annotated[str, Field(min_length=1, max_length=128)]
    new_password: Password
