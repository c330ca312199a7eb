"""Key rotation: every stored credential moves to the new key; a row bound elsewhere is reported."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from api.security import verify_access_token
from scripts.rotate_keys import rotate_all
from shared.brokers.catalog import Broker
from shared.brokers.types import BrokerSession
from shared.credentials import CredentialBox, CredentialsError
from shared.db.repositories import connections
from shared.settings import Settings
from tests.helpers import register_and_login
from tests.integration.cli import ordergate

pytestmark = pytest.mark.integration

OLD_KEY = Settings().credentials_key_list[0]  # what the app seals with in this test session
NEW_KEY = Fernet.generate_key().decode()


@pytest.fixture
async def restore_keys(engine: AsyncEngine) -> AsyncIterator[None]:
    """Put every row back under the session's key, so later tests can open what they seal."""
    yield
    await rotate_all(engine, CredentialBox([OLD_KEY, NEW_KEY]))


async def _connections(engine: AsyncEngine, client: httpx.AsyncClient,
                       count: int) -> list[tuple[uuid.UUID, uuid.UUID, BrokerSession]]:
    """`count` IBKR connections of fresh users, sealed with the old key."""
    made = []
    box = CredentialBox([OLD_KEY])
    for number in range(count):
        auth = await register_and_login(client)
        principal = verify_access_token(Settings(), auth["Authorization"].split()[1])
        assert principal is not None
        session = BrokerSession(api_secret=f"rotation-secret-{uuid.uuid4().hex}",
                                broker_user_id=f"U{number}")
        async with engine.begin() as conn:
            row = await connections.upsert(conn, user_id=principal.user_id, broker=Broker.IBKR,
                                           broker_user_id=session.broker_user_id, label=None)
            sealed = box.seal(session, user_id=principal.user_id, broker=Broker.IBKR,
                              account_id=row["id"])
            await connections.save_credentials(conn, row["id"], credentials=sealed,
                                               status="active", token_expires_at=None,
                                               last_error=None)
        made.append((row["id"], principal.user_id, session))
    return made


async def _ciphertext(engine: AsyncEngine, account_id: uuid.UUID) -> str:
    async with engine.connect() as conn:
        result = await conn.execute(text("SELECT credentials FROM accounts WHERE id = :id"),
                                    {"id": account_id})
        value: str = result.scalar_one()
        return value


@pytest.mark.usefixtures("restore_keys")
async def test_rotation_moves_every_row_to_the_new_key_so_the_old_one_can_be_removed(
    engine: AsyncEngine, client: httpx.AsyncClient,
) -> None:
    rows = await _connections(engine, client, 5)
    new_only = CredentialBox([NEW_KEY])

    outcome = await rotate_all(engine, CredentialBox([NEW_KEY, OLD_KEY]), batch_size=2)

    assert outcome.rotated >= len(rows)
    for account_id, user_id, session in rows:
        assert account_id not in outcome.failed
        token = await _ciphertext(engine, account_id)
        assert new_only.open(token, user_id=user_id, broker=Broker.IBKR,
                             account_id=account_id) == session
        with pytest.raises(CredentialsError):
            CredentialBox([OLD_KEY]).open(token, user_id=user_id, broker=Broker.IBKR,
                                          account_id=account_id)


@pytest.mark.usefixtures("restore_keys")
async def test_the_command_reports_a_row_holding_another_rows_ciphertext_and_exits_1(
    engine: AsyncEngine, client: httpx.AsyncClient,
) -> None:
    (good, good_user, good_session), (copied, _, _) = await _connections(engine, client, 2)
    stolen = await _ciphertext(engine, good)
    async with engine.begin() as conn:
        await connections.replace_credentials(conn, copied, stolen)

    result = ordergate("rotate-keys", env={"CREDENTIALS_KEYS": f"{NEW_KEY},{OLD_KEY}"})

    assert result.returncode == 1, result.stdout + result.stderr
    assert "rotated" in result.stdout
    assert f"failed: account {copied}" in result.stderr
    assert str(good) not in result.stderr
    assert good_session.api_secret not in result.stdout + result.stderr
    assert await _ciphertext(engine, copied) == stolen  # left as it was
    assert CredentialBox([NEW_KEY]).open(
        await _ciphertext(engine, good), user_id=good_user, broker=Broker.IBKR,
        account_id=good) == good_session
    async with engine.begin() as conn:
        await connections.revoke(conn, copied)  # no stray undecryptable row for later tests
