"""Re-encrypt every stored broker credential under the primary key (the first of CREDENTIALS_KEYS).

Rotation: put the new key first and keep the old one after it, deploy, run this, then remove the
old key. Each row's binding is checked before it is re-encrypted; a row that fails (undecryptable,
or bound to another row) is left as it is and reported by account id. Exit code 1 if any failed.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine

from shared.credentials import CredentialBox, CredentialsError
from shared.db.engine import make_engine
from shared.db.repositories import connections
from shared.settings import Settings, get_settings

BATCH_SIZE = 200


@dataclass
class Outcome:
    """How many rows were re-encrypted, and which could not be."""

    rotated: int = 0
    failed: list[uuid.UUID] = field(default_factory=list)


async def rotate_all(engine: AsyncEngine, box: CredentialBox, *,
                     batch_size: int = BATCH_SIZE) -> Outcome:
    """Re-encrypt every row's credentials, one transaction per batch of rows."""
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
        if len(rows) < batch_size:
            return outcome
        after = rows[-1]["id"]


async def main(settings: Settings) -> int:
    """Rotate against DATABASE_URL, print the outcome; 1 if any row failed."""
    box = CredentialBox.from_settings(settings)
    engine = make_engine(settings)
    try:
        outcome = await rotate_all(engine, box)
    finally:
        await engine.dispose()
    print(f"rotated {outcome.rotated} connection(s) to the primary key; "
          f"{len(outcome.failed)} failed")
    for account_id in outcome.failed:
        print(f"  failed: account {account_id} (its credentials cannot be opened with any "
              "configured key, or are bound to another row)", file=sys.stderr)
    return 1 if outcome.failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(get_settings())))
