"""Settings: the only place that reads the environment."""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_JWT_SECRET = "change-me-in-production-please-32-bytes-min"


class Settings(BaseSettings):
    """Every knob of ordergate; `.env.example` lists each one."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    environment: str = "development"
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/ordergate"
    redis_url: str = "redis://127.0.0.1:6379/0"
    db_pool_size: int = 20
    db_pool_timeout_seconds: float = 2.0

    jwt_secret: str = Field(default=DEV_JWT_SECRET, min_length=32)
    jwt_issuer: str = "ordergate"
    jwt_audience: str = "ordergate-api"
    access_token_ttl_seconds: int = 900
    refresh_token_ttl_seconds: int = 30 * 24 * 3600

    paper_starting_cash: Decimal = Decimal("100000")
    paper_currency: str = "USD"
    market_order_cushion: Decimal = Decimal("0.05")

    dispatch_grace_seconds: float = 5.0
    sweep_interval_seconds: float = 2.0
    order_cache_ttl_seconds: int = 24 * 3600
    publish_timeout_seconds: float = 0.5
    max_pending_dispatch: int = 5000
    max_inflight_requests: int = 64
    task_time_limit_seconds: int = 60
    broker_visibility_timeout_seconds: int = 300

    simulator_interval_seconds: float = 1.0
    log_level: str = "INFO"

    @field_validator("database_url")
    @classmethod
    def _asyncpg_driver(cls, url: str) -> str:
        # Users paste libpq URLs; SQLAlchemy needs the driver named.
        for prefix in ("postgresql://", "postgres://"):
            if url.startswith(prefix):
                return "postgresql+asyncpg://" + url[len(prefix) :]
        return url

    @model_validator(mode="after")
    def _no_dev_secret_in_production(self) -> Settings:
        # Tokens signed with a published key would let anyone act as any user.
        if self.environment == "production" and self.jwt_secret == DEV_JWT_SECRET:
            raise ValueError("JWT_SECRET must be set to a secret value when ENVIRONMENT=production")
        return self

    @property
    def asyncpg_dsn(self) -> str:
        """The DATABASE_URL as asyncpg itself understands it."""
        return self.database_url.replace("postgresql+asyncpg://", "postgresql://", 1)


@lru_cache
def get_settings() -> Settings:
    """Return the process-wide settings, read once."""
    return Settings()
