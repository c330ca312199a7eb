"""Re-encrypt every stored broker credential under the primary key (the first of CREDENTIALS_KEYS).

Rotation: put the new key first and keep the old one after it, deploy, run this, then remove the
old key. Each row's binding is checked before it is re-encrypted; a row that fails (undecryptable,
or bound to another row) is left as it is and reported by account id. Run by `ordergate
rotate-keys` (make rotate-keys), which exits 1 if any failed.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine

from shared.credentials import CredentialBox, CredentialsError
from shared.db.repositories import connections

BATCH_SIZE = 200


@dataclass
class Outcome:
    """How many rows were re-encrypted, and which could not be."""

    rotated: int = 0
    failed: list[uuid.UUID] = field(default_factory=list)


async def rotate_all(engine: AsyncEngine, box: CredentialBox, *, batch_size: int = BATCH_SIZE,
                     on_rows: Callable[[int], None] = lambda _: None) -> Outcome:
    """Re-encrypt every row's credentials, one transaction per batch; on_rows(n) after each."""
    outcome = Outcome()
    after: uuid.UUID | None = None
    while True:
        async with engine.begin() as conn:
            rows = await connections.lock_credentials_batch(conn, after=after, limit=batch_size)
            for row in rows:
                try:
                    token = box.rotate(row["credentials"], user_id=row["user_id"],
                                       broker=row["broker"], account_id=row["id"])
                except CredentialsError:
                    outcome.failed.append(row["id"])
                    continue
                await connections.replace_credentials(conn, row["id"], token)
                outcome.rotated += 1
        on_rows(len(rows))
        if len(rows) < batch_size:
            return outcome
        after = rows[-1]["id"]
