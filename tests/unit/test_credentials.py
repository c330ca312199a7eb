"""Broker credentials at rest: Fernet ciphertext that opens only for the row it was sealed for."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import TypedDict

import pytest
from cryptography.fernet import Fernet

from shared.brokers.catalog import Broker
from shared.brokers.sessions import LoginForm
from shared.brokers.types import BrokerSession
from shared.credentials import CredentialBox, CredentialsError
from shared.settings import Settings

OLD_KEY = Fernet.generate_key().decode()
NEW_KEY = Fernet.generate_key().decode()
USER = uuid.uuid4()
ACCOUNT = uuid.uuid4()
SESSION = BrokerSession(
    api_key="kite-api-key", api_secret="s3cr3t-api-secret", access_token="acc3ss-token",
    refresh_token="r3fresh-token", broker_user_id="AB1234",
    expires_at=datetime(2026, 11, 26, 0, 30, tzinfo=UTC), extra={"public_token": "pub"})


class Binding(TypedDict):
    user_id: uuid.UUID | str
    broker: Broker | str
    account_id: uuid.UUID | str


BINDING = Binding(user_id=USER, broker=Broker.ZERODHA, account_id=ACCOUNT)


def test_a_sealed_session_opens_to_the_same_session_with_its_expiry() -> None:
    box = CredentialBox([OLD_KEY])

    opened = box.open(box.seal(SESSION, **BINDING), **BINDING)

    assert opened == SESSION
    assert opened.expires_at == datetime(2026, 11, 26, 0, 30, tzinfo=UTC)


def test_an_offset_expiry_and_an_empty_session_round_trip() -> None:
    box = CredentialBox([OLD_KEY])
    ist = datetime(2026, 11, 26, 6, 0, tzinfo=timezone(timedelta(hours=5, minutes=30)))
    for session in (BrokerSession(access_token="t", expires_at=ist), BrokerSession()):
        assert box.open(box.seal(session, **BINDING), **BINDING) == session


def test_the_ciphertext_contains_no_secret_in_clear() -> None:
    token = CredentialBox([OLD_KEY]).seal(SESSION, **BINDING)

    for secret in ("kite-api-key", "s3cr3t-api-secret", "acc3ss-token", "r3fresh-token"):
        assert secret not in token


@pytest.mark.parametrize("other", [
    Binding(user_id=uuid.uuid4(), broker=Broker.ZERODHA, account_id=ACCOUNT),
    Binding(user_id=USER, broker=Broker.UPSTOX, account_id=ACCOUNT),
    Binding(user_id=USER, broker=Broker.ZERODHA, account_id=uuid.uuid4()),
], ids=["other user", "other broker", "other account"])
def test_a_ciphertext_copied_to_another_user_broker_or_account_does_not_open(
    other: Binding,
) -> None:
    box = CredentialBox([OLD_KEY])
    token = box.seal(SESSION, **BINDING)

    with pytest.raises(CredentialsError, match="belong to another"):
        box.open(token, **other)
    with pytest.raises(CredentialsError, match="belong to another"):
        box.rotate(token, **other)


def test_the_binding_accepts_ids_as_strings_and_brokers_by_name() -> None:
    box = CredentialBox([OLD_KEY])
    token = box.seal(SESSION, **BINDING)

    assert box.open(token, user_id=str(USER), broker="zerodha", account_id=str(ACCOUNT)) == SESSION


def test_after_rotation_the_old_key_still_opens_and_rotate_moves_to_the_new_key() -> None:
    sealed_with_old = CredentialBox([OLD_KEY]).seal(SESSION, **BINDING)
    rotating = CredentialBox([NEW_KEY, OLD_KEY])

    assert rotating.open(sealed_with_old, **BINDING) == SESSION
    rotated = rotating.rotate(sealed_with_old, **BINDING)

    assert rotated != sealed_with_old
    assert CredentialBox([NEW_KEY]).open(rotated, **BINDING) == SESSION
    with pytest.raises(CredentialsError, match="cannot be decrypted"):
        CredentialBox([NEW_KEY]).open(sealed_with_old, **BINDING)


def test_new_seals_use_the_first_key() -> None:
    token = CredentialBox([NEW_KEY, OLD_KEY]).seal(SESSION, **BINDING)

    assert CredentialBox([NEW_KEY]).open(token, **BINDING) == SESSION
    with pytest.raises(CredentialsError):
        CredentialBox([OLD_KEY]).open(token, **BINDING)


@pytest.mark.parametrize("garbage", ["", "not a fernet token", "gAAAAABinvalid", "é"])
def test_garbage_does_not_open(garbage: str) -> None:
    with pytest.raises(CredentialsError, match=str(ACCOUNT)):
        CredentialBox([OLD_KEY]).open(garbage, **BINDING)


def test_a_valid_fernet_token_that_is_not_a_sealed_session_does_not_open() -> None:
    token = Fernet(OLD_KEY.encode()).encrypt(b'["not", "a", "session"]').decode()

    with pytest.raises(CredentialsError, match="malformed"):
        CredentialBox([OLD_KEY]).open(token, **BINDING)


def test_a_bad_key_is_refused_without_echoing_it() -> None:
    with pytest.raises(CredentialsError, match="not a Fernet key") as caught:
        CredentialBox(["definitely-not-a-key"])
    assert "definitely-not-a-key" not in str(caught.value)
    with pytest.raises(CredentialsError, match="no credentials key"):
        CredentialBox([])


def test_the_box_is_built_from_settings_newest_key_first() -> None:
    box = CredentialBox.from_settings(Settings(credentials_keys=f" {NEW_KEY} , {OLD_KEY} "))
    token = box.seal(SESSION, **BINDING)

    assert CredentialBox([NEW_KEY]).open(token, **BINDING) == SESSION
    assert OLD_KEY not in repr(box)
    assert NEW_KEY not in repr(box)


def test_a_login_form_never_shows_its_secrets() -> None:
    form = LoginForm(api_key="key-1", api_secret="s3cr3t", request_token="rt-9", code="c-7",
                     password="4321", totp="123456")
    shown = repr(form)
    assert "key-1" in shown
    assert not any(secret in shown for secret in ("s3cr3t", "rt-9", "c-7", "4321", "123456"))
