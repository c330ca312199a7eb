"""Settings: the only place that reads the environment."""

from __future__ import annotations

import sys
from datetime import date
from decimal import Decimal
from functools import lru_cache
from typing import Annotated, Literal
from urllib.parse import urlsplit

import limits
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from shared.domain.fees import PROFILES, FeeSchedule
from shared.domain.sessions import Hours
from shared.domain.settlement import MAX_SETTLEMENT_DAYS

DEV_JWT_SECRET = "change-me-in-production-please-32-bytes-min"
# Fernet keys (urlsafe base64 of 32 bytes). Development only: production refuses them.
DEV_CREDENTIALS_KEY = "b3JkZXJnYXRlLWRldi1vbmx5LWNyZWRlbnRpYWxzLWs="
DEV_WEBHOOK_SECRET = "ordergate-dev-webhook-secret-change-me"
# A secret drawn from `secrets` (or `openssl rand -hex 32`) has at least 16 distinct characters;
# "xxxx…" or "aaaabbbb…" passes a length check and nothing else.
MIN_SECRET_DISTINCT_CHARACTERS = 10
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


class Settings(BaseSettings):
    """Every knob of ordergate; `.env.example` lists each one."""

    # A refused value must not be echoed into the logs: it may be a secret or a URL with a
    # password in it.
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", hide_input_in_errors=True)

    # "production" turns on the start-up checks of `production_problems`.
    environment: str = "development"
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/ordergate"
    redis_url: str = "redis://127.0.0.1:6379/0"
    db_pool_size: int = 20
    db_pool_timeout_seconds: float = 2.0
    # A hung PostgreSQL (stopped, or a network black hole) must fail a request in seconds, not
    # hold it for as long as the outage lasts: connect and per-statement limits.
    db_connect_timeout_seconds: float = Field(default=3.0, gt=0)
    db_statement_timeout_seconds: float = Field(default=5.0, gt=0)

    jwt_secret: str = Field(default=DEV_JWT_SECRET, min_length=32)
    jwt_issuer: str = "ordergate"
    jwt_audience: str = "ordergate-api"
    access_token_ttl_seconds: int = 900
    refresh_token_ttl_seconds: int = 30 * 24 * 3600
    # Bearer token of operators (full queue status) until an admin role exists; unset = no
    # full view. Long enough that guessing it is hopeless.
    operator_token: str | None = Field(default=None, min_length=32)
    # Bearer token a Prometheus scraper sends to GET /metrics; unset: only loopback clients
    # are served (the metrics tell volumes and which brokers are down).
    metrics_token: str | None = Field(default=None, min_length=32)
    # API keys one user may hold at a time (expired ones count until deleted).
    max_api_keys_per_user: int = Field(default=10, ge=1, le=1000)
    # Watchlists one user may hold, and symbols in one watchlist (issue 12).
    max_watchlists_per_user: int = Field(default=20, ge=1, le=1000)
    max_watchlist_items: int = Field(default=100, ge=1, le=1000)
    # Request budgets (api/ratelimit.py), in the notation of the `limits` library:
    # "10/minute", "5 per 15 minutes". Moving windows in Redis, shared by every API process.
    rate_limit_ip: str = "1200/minute"  # every /api/ request of one client address
    rate_limit_api: str = "600/minute"  # per API key or logged-in user
    rate_limit_orders: str = "300/minute"  # order placements per API key or user
    rate_limit_login: str = "10/minute"  # login attempts per client address
    rate_limit_login_account: str = "30/hour"  # login attempts naming one e-mail
    rate_limit_register: str = "10/hour"  # sign-ups per client address
    rate_limit_otp: str = "5 per 15 minutes"  # one-time-code requests per client address
    # Redis of the budgets; unset: REDIS_URL.
    rate_limit_storage_url: str | None = None

    # --- Login by e-mailed code, and the mail that carries it (issue 11) -----------------
    # A code logs in once, within this many seconds, and is burnt after this many wrong tries.
    otp_ttl_seconds: int = Field(default=300, ge=30, le=3600)
    otp_max_attempts: int = Field(default=5, ge=1, le=20)
    # An account is mailed a new code at most once in this many seconds; a request sooner
    # sends nothing and the code already sent stays good.
    otp_resend_seconds: int = Field(default=60, ge=0, le=3600)
    # A new account must prove its address before it logs in with a password or places an
    # order: sign-up mails it a code, and its first login with a mailed code verifies it.
    require_email_verification: bool = False
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=25, ge=1, le=65535)
    # "none" (plain, for a local relay), "starttls" (upgrade, usually port 587) or "tls"
    # (TLS from the first byte, usually port 465).
    smtp_security: Literal["none", "starttls", "tls"] = "none"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_sender: str = "ordergate <no-reply@localhost>"
    smtp_timeout_seconds: float = Field(default=10.0, gt=0)

    paper_starting_cash: Decimal = Decimal("100000")
    paper_currency: str = "USD"
    market_order_cushion: Decimal = Decimal("0.05")
    # The brokerage the paper exchange charges on each fill: a profile of shared/domain/fees.py
    # ("none", "ibkr_fixed", "zerodha_intraday").
    paper_fee_profile: str = "none"

    # --- Sessions, expiry, risk (issue 9) ------------------------------------------------
    # The paper exchange trades only inside its exchanges' sessions unless this is set (demos,
    # tests that are not about sessions). DAY orders expire at the session's close either way.
    paper_always_open: bool = False
    # Hours per exchange overriding the defaults of shared/domain/sessions.py, as JSON:
    # {"NYSE": "America/New_York 09:30-16:00"}; and holidays: {"NYSE": ["2026-12-25"]}.
    session_hours: dict[str, str] = Field(default_factory=dict)
    session_holidays: dict[str, list[date]] = Field(default_factory=dict)
    # Trading days after which a BUY's shares settle into holdings, per exchange, as JSON:
    # {"NSE": 1}; an exchange not named settles T+1 (NSE and BSE cash, US since 2024).
    settlement_days: dict[str, Annotated[int, Field(ge=0, le=MAX_SETTLEMENT_DAYS)]] = Field(
        default_factory=dict)
    # How often beat runs the end-of-day settlement; each exchange's closed day settles once.
    settlement_interval_seconds: float = Field(default=600.0, gt=0)
    # How often beat snapshots P&L (GET /portfolios/{id}/history); one a trading day of the
    # account's exchange, after its close.
    snapshot_interval_seconds: float = Field(default=600.0, gt=0)
    # ?source=broker: how long a broker's answer is reused, and how long a request waits for it.
    broker_read_cache_seconds: float = Field(default=5.0, ge=1, le=300)
    broker_read_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    # Shifts every process's notion of now (sessions, expiry): tests set the clock with it.
    clock_offset_seconds: float = 0.0
    expiry_interval_seconds: float = Field(default=2.0, gt=0)
    expiry_batch_size: int = Field(default=200, ge=1)
    # Pre-trade limits of every account (accounts.risk_limits overrides them per account);
    # unset = no limit. Values are in the account's currency.
    risk_max_order_value: Decimal | None = Field(default=None, gt=0)
    risk_max_position_value: Decimal | None = Field(default=None, gt=0)
    risk_max_open_orders: int | None = Field(default=None, ge=1)
    risk_max_orders_per_second: int | None = Field(default=None, ge=1)

    dispatch_grace_seconds: float = 5.0
    # Orders one submit task works in one transaction: its own message's and those of the
    # submits queued right behind it. Big enough to spread the per-transaction cost, small
    # enough to hold the account locks briefly.
    worker_batch_orders: int = Field(default=256, ge=1, le=10000)
    sweep_interval_seconds: float = 2.0
    # Bounds how long a lost publish can leave GET /orders/{id} showing an older version.
    order_cache_ttl_seconds: int = Field(default=5, ge=1, le=60)
    publish_timeout_seconds: float = 0.5
    max_pending_dispatch: int = 5000
    max_inflight_requests: int = 64
    task_time_limit_seconds: int = 60
    broker_visibility_timeout_seconds: int = 300

    # --- Live stream (issue 10) ----------------------------------------------------------
    # A heartbeat after this long without a message; the log is re-read this often even when
    # no doorbell rings (a lost publish, the API's unpublished PENDING_NEW).
    stream_heartbeat_seconds: float = Field(default=15.0, gt=0)
    stream_poll_seconds: float = Field(default=1.0, gt=0)
    # A client that takes no message for this long while this many wait is cut off (4008).
    stream_send_timeout_seconds: float = Field(default=5.0, gt=0)
    stream_max_queued: int = Field(default=1000, ge=10)
    stream_max_symbols: int = Field(default=100, ge=1, le=1000)
    # Connections of the streams' own pool per API process, apart from DB_POOL_SIZE: streams
    # wait for each other, never for order entry's connections.
    stream_db_pool_size: int = Field(default=5, ge=1)
    # Longest a stream's read waits for that pool. Longer than DB_POOL_TIMEOUT_SECONDS: a
    # stream failed fast reconnects (handshake, auth, catch-up), adding to what is queued.
    stream_db_pool_timeout_seconds: float = Field(default=10.0, gt=0)

    # --- Brokers -----------------------------------------------------------------------
    # Comma-separated Fernet keys; the first encrypts, all decrypt (rotation).
    credentials_keys: str = DEV_CREDENTIALS_KEY
    broker_webhook_secret: str = Field(default=DEV_WEBHOOK_SECRET, min_length=16)
    broker_webhook_additional_secrets: str = ""
    webhook_tolerance_seconds: int = 300
    webhook_max_body_bytes: int = 65536
    # Where brokers reach this gateway; shown in webhook URLs of connections. Unset: this
    # machine's API_PORT.
    public_base_url: str = ""
    circuit_failure_threshold: int = 3
    circuit_reset_seconds: float = 10.0
    broker_http_timeout_seconds: float = 5.0
    # A place whose outcome is unknown is looked up this many times before it is placed again.
    unknown_lookup_attempts: int = 3
    reconcile_interval_seconds: float = 15.0
    reconcile_min_age_seconds: float = 30.0
    zerodha_root_url: str = "https://api.kite.trade"
    upstox_base_url: str = "https://api.upstox.com"
    upstox_order_url: str = "https://api-hft.upstox.com"
    upstox_redirect_uri: str = "http://127.0.0.1:8000/api/v1/brokers/upstox/callback"
    groww_base_url: str = "https://api.groww.in"
    angelone_base_url: str = "https://apiconnect.angelone.in"
    ib_host: str | None = None
    ib_port: int = 4002
    ib_client_id: int = 1

    simulator_interval_seconds: float = 1.0
    # Same seed, same quotes: the simulator's random walk is reproducible (unset: random).
    simulator_seed: int | None = None
    # MARKET fills this many basis points worse than the touch (0: none); with a seed, a
    # reproducible random part of it per fill.
    paper_slippage_bps: Decimal = Field(default=Decimal(0), ge=0, le=1000)
    paper_slippage_seed: int | None = None
    # Resting orders one matching round takes per side and kind; more take further rounds.
    paper_match_batch: int = Field(default=500, ge=1)
    log_level: str = "INFO"

    # --- The HTTP edge (issue 11) --------------------------------------------------------
    # The port `python -m api.server` (and `make run`) listens on.
    api_port: int = Field(default=8000, ge=1, le=65535)
    # A client gets this long from connecting (or from the end of its previous answer) to
    # send a request's headers, and this long from then to send its body (else 408), so
    # that trickling clients cannot hold connections or the in-flight slots.
    header_timeout_seconds: float = Field(default=10.0, gt=0)
    body_timeout_seconds: float = Field(default=10.0, gt=0)
    # Longest a handler may take to start its answer (else 504). Above the database's own
    # limits, so that a slow statement answers its 503 first.
    request_timeout_seconds: float = Field(default=15.0, gt=0)
    # Browser origins allowed to call the API (CORS), comma-separated; empty: no CORS at all.
    # Credentials (cookies) only with CORS_ALLOW_CREDENTIALS, never with "*".
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    cors_allow_credentials: bool = False
    # Host headers the API answers, comma-separated ("api.example.com,*.example.com"); "*":
    # any. Anything else is a 400 `invalid_host`.
    allowed_hosts: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["*"])

    @field_validator("database_url")
    @classmethod
    def _asyncpg_driver(cls, url: str) -> str:
        # Users paste libpq URLs; SQLAlchemy needs the driver named.
        for prefix in ("postgresql://", "postgres://"):
            if url.startswith(prefix):
                return "postgresql+asyncpg://" + url[len(prefix) :]
        return url

    @field_validator("rate_limit_ip", "rate_limit_api", "rate_limit_orders", "rate_limit_login",
                     "rate_limit_login_account", "rate_limit_register", "rate_limit_otp")
    @classmethod
    def _rate_limit_parses(cls, limit: str) -> str:
        # A typo must stop the process at start, not leave a route unmetered.
        try:
            amount = limits.parse(limit).amount
        except ValueError:
            amount = 0
        if amount < 1:
            raise ValueError(f"a rate limit reads like '10/minute' or '5 per 15 minutes',"
                             f" at least 1, was {limit!r}")
        return limit

    @field_validator("cors_origins", "allowed_hosts", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, origins: list[str]) -> list[str]:
        for origin in origins:
            parts = urlsplit(origin)
            if origin != "*" and (parts.scheme not in ("http", "https") or not parts.netloc
                                  or parts.path or parts.query or parts.fragment):
                raise ValueError(f"a CORS origin reads like 'https://app.example.com'"
                                 f" (scheme, host, optional port, no path), was {origin!r}")
        return origins

    @field_validator("allowed_hosts")
    @classmethod
    def _host_patterns(cls, hosts: list[str]) -> list[str]:
        for host in hosts:
            if "*" in host[1:] or (host.startswith("*") and host != "*"
                                   and not host.startswith("*.")):
                raise ValueError(f"an allowed host is a name, '*.example.com' or '*',"
                                 f" was {host!r}")
        return [host.lower() for host in hosts]

    @model_validator(mode="after")
    def _public_base_url_follows_the_port(self) -> Settings:
        if not self.public_base_url:
            self.public_base_url = f"http://127.0.0.1:{self.api_port}"
        return self

    @model_validator(mode="after")
    def _no_credentials_for_every_origin(self) -> Settings:
        # With credentials, "*" would let any web page act with its visitor's cookies.
        if self.cors_allow_credentials and "*" in self.cors_origins:
            raise ValueError("CORS_ALLOW_CREDENTIALS needs listed CORS_ORIGINS, not '*'")
        return self

    @model_validator(mode="after")
    def _request_deadline_above_the_database(self) -> Settings:
        # A slow statement should end as the database's 503, which says to retry, not as a
        # 504 cut through the middle of a transaction.
        floor = self.db_pool_timeout_seconds + self.db_statement_timeout_seconds
        if self.request_timeout_seconds <= floor:
            raise ValueError(
                f"REQUEST_TIMEOUT_SECONDS ({self.request_timeout_seconds}) must exceed"
                f" DB_POOL_TIMEOUT_SECONDS + DB_STATEMENT_TIMEOUT_SECONDS ({floor})")
        return self

    @field_validator("paper_fee_profile")
    @classmethod
    def _known_fee_profile(cls, profile: str) -> str:
        if profile not in PROFILES:
            raise ValueError(f"PAPER_FEE_PROFILE must be one of {', '.join(PROFILES)}, "
                             f"was {profile!r}")
        return profile

    @property
    def paper_fees(self) -> FeeSchedule:
        """The fee schedule the paper exchange charges."""
        return PROFILES[self.paper_fee_profile]

    @field_validator("settlement_days")
    @classmethod
    def _settlement_exchanges_upper(cls, days: dict[str, int]) -> dict[str, int]:
        return {exchange.upper(): count for exchange, count in days.items()}

    @field_validator("session_hours")
    @classmethod
    def _session_hours_parse(cls, hours: dict[str, str]) -> dict[str, str]:
        # A typo in the hours must stop the process at start, not the first order.
        for text in hours.values():
            Hours.parse(text)
        return hours

    @model_validator(mode="after")
    def _slippage_within_cushion(self) -> Settings:
        # A MARKET BUY reserves the ask plus the cushion: slipping further would spend cash
        # that no reservation holds.
        if self.paper_slippage_bps > self.market_order_cushion * 10_000:
            raise ValueError(
                f"PAPER_SLIPPAGE_BPS ({self.paper_slippage_bps}) must not exceed"
                f" MARKET_ORDER_CUSHION ({self.market_order_cushion}) in basis points"
                f" ({self.market_order_cushion * 10_000})")
        return self

    @model_validator(mode="after")
    def _safe_for_production(self) -> Settings:
        if self.environment == "production" and (problems := production_problems(self)):
            raise ValueError("ENVIRONMENT=production: " + "; ".join(problems))
        return self

    @property
    def credentials_key_list(self) -> list[str]:
        """Fernet keys, newest (the one that encrypts) first."""
        return [key.strip() for key in self.credentials_keys.split(",") if key.strip()]

    @property
    def webhook_secrets(self) -> list[str]:
        """Every secret a webhook signature may be made with (current first, then rotating)."""
        extra = self.broker_webhook_additional_secrets.split(",")
        return [self.broker_webhook_secret, *(s.strip() for s in extra if s.strip())]

    @property
    def asyncpg_dsn(self) -> str:
        """The DATABASE_URL as asyncpg itself understands it."""
        return self.database_url.replace("postgresql+asyncpg://", "postgresql://", 1)


def production_problems(settings: Settings) -> list[str]:
    """What makes these settings unsafe to run in production, one sentence each."""
    problems = []
    if settings.jwt_secret == DEV_JWT_SECRET or _weak(settings.jwt_secret):
        # Tokens signed with a published or guessable key let anyone act as any user.
        problems.append("JWT_SECRET must be a random secret of its own, not the development"
                        " value or a repetitive string")
    if not settings.credentials_key_list or DEV_CREDENTIALS_KEY in settings.credentials_key_list:
        problems.append("CREDENTIALS_KEYS must be set to Fernet keys of your own (the"
                        " development key is published)")
    if DEV_WEBHOOK_SECRET in settings.webhook_secrets or _weak(settings.broker_webhook_secret):
        problems.append("BROKER_WEBHOOK_SECRET must be a random secret of its own")
    if settings.operator_token is not None and _weak(settings.operator_token):
        problems.append("OPERATOR_TOKEN must be a random secret, not a repetitive string")
    if settings.clock_offset_seconds:
        # A shifted clock would expire real orders at the wrong time.
        problems.append("CLOCK_OFFSET_SECONDS is for tests; it must be 0")
    if settings.log_level.upper() == "DEBUG":
        # Libraries log request and mail conversations at DEBUG, credentials included.
        problems.append("LOG_LEVEL=DEBUG is for development; use INFO or above")
    if urlsplit(settings.public_base_url).scheme != "https":
        # Brokers would post fills, and users send tokens, in clear text.
        problems.append(f"PUBLIC_BASE_URL must be an https:// address, was"
                        f" {settings.public_base_url!r}")
    if (settings.smtp_password is not None and settings.smtp_security == "none"
            and settings.smtp_host not in LOOPBACK_HOSTS):
        problems.append("SMTP_PASSWORD would cross the network in clear text: set"
                        " SMTP_SECURITY to starttls or tls")
    return problems


def _weak(secret: str) -> bool:
    return len(set(secret)) < MIN_SECRET_DISTINCT_CHARACTERS


@lru_cache
def get_settings() -> Settings:
    """Return the process-wide settings, read once."""
    return Settings()


def refusal(exc: ValidationError) -> str:
    """Why the settings were refused, on one line: each variable and its reason, not its value."""
    return "; ".join(
        ":".join([*(str(part).upper() for part in error["loc"]), " " + error["msg"]])
        .replace("Value error, ", "").strip() for error in exc.errors())


def settings_or_exit(exit_code: int = 1) -> Settings:
    """The process-wide settings; if they are refused, say why on one line and exit."""
    try:
        return get_settings()
    except ValidationError as exc:
        sys.stderr.write(f"ordergate: refusing to start: {refusal(exc)}\n")
        raise SystemExit(exit_code) from None
