"""Broker credentials at rest: Fernet ciphertext bound to the row it belongs to.

Fernet authenticates its ciphertext but has no associated data, so a token copied from one
account row into another would decrypt there just as well. The binding (user, broker, account
and a format version) therefore lives INSIDE the plaintext and is checked on every open.
Keys come from Settings.credentials_keys: the first encrypts, every key decrypts (rotation).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from shared.brokers.catalog import Broker
from shared.brokers.types import BrokerSession
from shared.settings import Settings

FORMAT_VERSION: Final = 1
_SECRET_FIELDS: Final = ("api_key", "api_secret", "access_token", "refresh_token")


class CredentialsError(Exception):
    """Stored credentials cannot be used: undecryptable, malformed, or bound to another row.

    The message names the account, never a secret.
    """


class CredentialBox:
    """Seal and open BrokerSessions with the configured Fernet keys."""

    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise CredentialsError("no credentials key is configured (CREDENTIALS_KEYS)")
        try:
            self._fernet = MultiFernet([Fernet(key.encode("ascii")) for key in keys])
        except (ValueError, UnicodeEncodeError):
            # The bad key itself stays out of the message.
            raise CredentialsError(
                "CREDENTIALS_KEYS holds a value that is not a Fernet key "
                "(32 url-safe base64-encoded bytes)") from None
        self._key_count = len(keys)

    @classmethod
    def from_settings(cls, settings: Settings) -> CredentialBox:
        """Build the box from Settings.credentials_key_list (newest key first)."""
        return cls(settings.credentials_key_list)

    def __repr__(self) -> str:
        return f"CredentialBox(<{self._key_count} keys hidden>)"

    def seal(self, session: BrokerSession, *, user_id: uuid.UUID | str, broker: Broker | str,
             account_id: uuid.UUID | str) -> str:
        """Encrypt `session` under the primary key, bound to this user, broker and account."""
        plaintext = {**_binding(user_id, broker, account_id), "session": _session_json(session)}
        data = json.dumps(plaintext, separators=(",", ":"), sort_keys=True).encode("utf-8")
        return self._fernet.encrypt(data).decode("ascii")

    def open(self, token: str, *, user_id: uuid.UUID | str, broker: Broker | str,
             account_id: uuid.UUID | str) -> BrokerSession:
        """Decrypt a sealed session; CredentialsError unless it is bound to exactly this row."""
        payload = self._payload(token, user_id=user_id, broker=broker, account_id=account_id)
        try:
            return _session_from_json(payload["session"])
        except (KeyError, TypeError, ValueError):
            raise _error(account_id, "are malformed") from None

    def rotate(self, token: str, *, user_id: uuid.UUID | str, broker: Broker | str,
               account_id: uuid.UUID | str) -> str:
        """Re-encrypt a sealed session under the primary key, after checking its binding."""
        self._payload(token, user_id=user_id, broker=broker, account_id=account_id)
        return self._fernet.rotate(token.encode("ascii")).decode("ascii")

    def _payload(self, token: str, *, user_id: uuid.UUID | str, broker: Broker | str,
                 account_id: uuid.UUID | str) -> dict[str, Any]:
        try:
            data = self._fernet.decrypt(token.encode("ascii"))
            payload = json.loads(data)
        except (InvalidToken, UnicodeEncodeError, ValueError):
            raise _error(account_id, "cannot be decrypted with any configured key") from None
        if not isinstance(payload, dict):
            raise _error(account_id, "are malformed")
        expected = _binding(user_id, broker, account_id)
        if any(payload.get(name) != value for name, value in expected.items()):
            raise _error(account_id, "belong to another user, broker or account")
        return payload


def _binding(user_id: uuid.UUID | str, broker: Broker | str,
             account_id: uuid.UUID | str) -> dict[str, Any]:
    return {"v": FORMAT_VERSION, "user_id": str(uuid.UUID(str(user_id))),
            "broker": Broker(broker).value, "account_id": str(uuid.UUID(str(account_id)))}


def _error(account_id: uuid.UUID | str, what: str) -> CredentialsError:
    return CredentialsError(f"the stored credentials of account {account_id} {what}")


def _session_json(session: BrokerSession) -> dict[str, Any]:
    fields: dict[str, Any] = {name: getattr(session, name) for name in _SECRET_FIELDS}
    fields["broker_user_id"] = session.broker_user_id
    fields["expires_at"] = session.expires_at.isoformat() if session.expires_at else None
    fields["extra"] = dict(session.extra)
    return fields


def _session_from_json(fields: Mapping[str, Any]) -> BrokerSession:
    expires = fields["expires_at"]
    extra = fields["extra"]
    if not isinstance(extra, dict) or not all(isinstance(v, str) for v in extra.values()):
        raise ValueError("extra must map names to strings")
    texts = {name: fields[name] for name in (*_SECRET_FIELDS, "broker_user_id")}
    if not all(isinstance(value, str) for value in texts.values()):
        raise ValueError("session fields must be strings")
    return BrokerSession(**texts, extra=extra,
                         expires_at=datetime.fromisoformat(expires) if expires else None)
