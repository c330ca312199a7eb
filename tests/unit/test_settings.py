"""`.env.example` documents every setting the code reads."""

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from shared.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def test_env_example_lists_every_setting() -> None:
    text = (ROOT / ".env.example").read_text()
    documented = set(re.findall(r"^#?\s?([A-Z][A-Z0-9_]+)=", text, flags=re.MULTILINE))
    expected = {name.upper() for name in Settings.model_fields}
    assert expected - documented == set()


def test_production_refuses_the_development_jwt_secret() -> None:
    with pytest.raises(ValidationError, match="JWT_SECRET"):
        Settings(environment="production")
    settings = Settings(environment="production", jwt_secret="x" * 40,
                        credentials_keys=_NEW_KEY, broker_webhook_secret="w" * 32)
    assert settings.jwt_secret == "x" * 40


_NEW_KEY = "bmV3LWtleS1uZXctbmV3LWtleS1uZXctbmV3LWtleSE="


def test_production_refuses_the_development_credentials_key() -> None:
    with pytest.raises(ValidationError, match="CREDENTIALS_KEYS"):
        Settings(environment="production", jwt_secret="x" * 40, broker_webhook_secret="w" * 32)


def test_production_refuses_the_development_webhook_secret() -> None:
    with pytest.raises(ValidationError, match="BROKER_WEBHOOK_SECRET"):
        Settings(environment="production", jwt_secret="x" * 40, credentials_keys=_NEW_KEY)


def test_webhook_secrets_list_the_current_one_first_then_the_rotating_ones() -> None:
    settings = Settings(broker_webhook_secret="current-secret-123",
                        broker_webhook_additional_secrets=" old-secret-1 ,, old-secret-2 ")
    assert settings.webhook_secrets == ["current-secret-123", "old-secret-1", "old-secret-2"]
