"""Request and response bodies of the auth endpoints."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints, field_validator

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
