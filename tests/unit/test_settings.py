"""Settings: `.env.example` documents each one; production refuses unsafe ones at start."""

import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from shared.settings import (
    DEV_CREDENTIALS_KEY,
    DEV_JWT_SECRET,
    DEV_WEBHOOK_SECRET,
    Settings,
    get_settings,
    production_problems,
    settings_or_exit,
)

ROOT = Path(__file__).resolve().parents[2]


def test_env_example_lists_every_setting() -> None:
    text = (ROOT / ".env.example").read_text()
    documented = set(re.findall(r"^#?\s?([A-Z][A-Z0-9_]+)=", text, flags=re.MULTILINE))
    expected = {name.upper() for name in Settings.model_fields}
    assert expected - documented == set()


_NEW_KEY = "bmV3LWtleS1uZXctbmV3LWtleS1uZXctbmV3LWtleSE="
# What a production deployment sets: its own random secrets, its https address.
SAFE: dict[str, Any] = {
    "environment": "production", "jwt_secret": "q8Zr3vKp0XwN5mTb2YcLd7HfJs9AeUgR",
    "credentials_keys": _NEW_KEY, "broker_webhook_secret": "wH4kPz9QmT2xVb7Nc5Rj",
    "public_base_url": "https://gate.example.com"}


def _settings(**values: Any) -> Settings:
    """Settings from these values alone, as the environment would give them."""
    return Settings.model_validate(values)


def test_safe_production_settings_start() -> None:
    settings = _settings(**SAFE)
    assert production_problems(settings) == []


@pytest.mark.parametrize(("unsafe", "named"), [
    ({"jwt_secret": DEV_JWT_SECRET}, "JWT_SECRET"),
    ({"jwt_secret": "x" * 40}, "JWT_SECRET"),
    ({"jwt_secret": "abcdabcdabcdabcdabcdabcdabcdabcd"}, "JWT_SECRET"),
    ({"credentials_keys": DEV_CREDENTIALS_KEY}, "CREDENTIALS_KEYS"),
    ({"credentials_keys": f"{_NEW_KEY},{DEV_CREDENTIALS_KEY}"}, "CREDENTIALS_KEYS"),
    ({"credentials_keys": ""}, "CREDENTIALS_KEYS"),
    ({"broker_webhook_secret": DEV_WEBHOOK_SECRET}, "BROKER_WEBHOOK_SECRET"),
    ({"broker_webhook_additional_secrets": DEV_WEBHOOK_SECRET}, "BROKER_WEBHOOK_SECRET"),
    ({"broker_webhook_secret": "w" * 32}, "BROKER_WEBHOOK_SECRET"),
    ({"operator_token": "o" * 32}, "OPERATOR_TOKEN"),
    ({"clock_offset_seconds": 3600}, "CLOCK_OFFSET_SECONDS"),
    ({"log_level": "debug"}, "LOG_LEVEL"),
    ({"public_base_url": "http://gate.example.com"}, "PUBLIC_BASE_URL"),
    ({"public_base_url": ""}, "PUBLIC_BASE_URL"),  # unset: http://127.0.0.1:API_PORT
    ({"smtp_password": "mail-pass", "smtp_host": "smtp.example.com"}, "SMTP_PASSWORD"),
])
def test_each_unsafe_production_setting_is_named_and_refused(
    unsafe: dict[str, Any], named: str,
) -> None:
    development = _settings(**{**SAFE, **unsafe, "environment": "development"})
    problems = production_problems(development)
    assert len(problems) == 1
    assert problems[0].startswith(named)
    with pytest.raises(ValidationError, match=named):
        _settings(**{**SAFE, **unsafe})


def test_an_smtp_password_to_a_local_relay_or_over_tls_is_fine() -> None:
    for mail in ({"smtp_host": "127.0.0.1"}, {"smtp_host": "smtp.example.com",
                                              "smtp_security": "starttls"}):
        _settings(**SAFE, smtp_password="mail-pass", **mail)


def test_a_refusal_never_echoes_the_value_it_refused() -> None:
    with pytest.raises(ValidationError) as refused:
        _settings(jwt_secret="too-short-but-secret")
    assert "too-short-but-secret" not in str(refused.value)


def test_cors_for_every_origin_with_credentials_is_refused_in_every_environment() -> None:
    with pytest.raises(ValidationError, match="CORS_ALLOW_CREDENTIALS"):
        _settings(cors_origins="*", cors_allow_credentials=True)
    assert _settings(cors_origins="*").cors_origins == ["*"]


@pytest.mark.parametrize("origin", ["app.example.com", "https://app.example.com/",
                                    "ftp://app.example.com", "https://"])
def test_a_cors_origin_is_a_scheme_and_host_only(origin: str) -> None:
    with pytest.raises(ValidationError, match="CORS origin"):
        _settings(cors_origins=origin)


def test_lists_are_read_comma_separated_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CORS_ORIGINS", " https://a.example.com , http://localhost:3000,")
    monkeypatch.setenv("ALLOWED_HOSTS", "API.example.com,*.example.org")
    settings = _settings()
    assert settings.cors_origins == ["https://a.example.com", "http://localhost:3000"]
    assert settings.allowed_hosts == ["api.example.com", "*.example.org"]


@pytest.mark.parametrize("host", ["a.*.example.com", "*example.com", "ex*"])
def test_an_allowed_host_wildcard_covers_subdomains_only(host: str) -> None:
    with pytest.raises(ValidationError, match="allowed host"):
        _settings(allowed_hosts=host)


def test_the_request_deadline_sits_above_the_databases_own_limits() -> None:
    with pytest.raises(ValidationError, match="REQUEST_TIMEOUT_SECONDS"):
        _settings(request_timeout_seconds=6, db_pool_timeout_seconds=2,
                 db_statement_timeout_seconds=5)
    _settings(request_timeout_seconds=7.5, db_pool_timeout_seconds=2,
             db_statement_timeout_seconds=5)


def test_the_public_address_follows_the_api_port_unless_set() -> None:
    assert _settings(api_port=9001).public_base_url == "http://127.0.0.1:9001"
    assert _settings(api_port=9001, public_base_url="https://gate.example.com"
                    ).public_base_url == "https://gate.example.com"


def test_refused_settings_stop_the_process_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("JWT_SECRET", "x" * 40)
    get_settings.cache_clear()
    try:
        with pytest.raises(SystemExit) as stopped:
            settings_or_exit(3)
    finally:
        get_settings.cache_clear()
    assert stopped.value.code == 3
    line = capsys.readouterr().err
    assert line.startswith("ordergate: refusing to start: ENVIRONMENT=production: JWT_SECRET")
    assert line.count("\n") == 1
    assert "x" * 40 not in line


def test_webhook_secrets_list_the_current_one_first_then_the_rotating_ones() -> None:
    settings = Settings(broker_webhook_secret="current-secret-123",
                        broker_webhook_additional_secrets=" old-secret-1 ,, old-secret-2 ")
    assert settings.webhook_secrets == ["current-secret-123", "old-secret-1", "old-secret-2"]


# A setting that holds a secret, or a URL that may carry a password (database, Redis).
_SECRET_LIKE = re.compile(r"secret|password|_token$|_keys$|(^|_)(database|redis|storage)_url$")


def test_every_secret_setting_has_a_row_in_the_readme_on_rotating_it() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### Rotating secrets", 1)[1].split("\n#", 1)[0]
    rows = [line.split("|")[1] for line in section.splitlines() if line.startswith("| `")]
    named = {name for row in rows for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", row)}
    secrets = {name.upper() for name in Settings.model_fields
               if _SECRET_LIKE.search(name) and not name.startswith("max_")}
    assert {"JWT_SECRET", "SMTP_PASSWORD", "DATABASE_URL"} <= secrets
    assert secrets - named == set()
