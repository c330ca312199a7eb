"""users.email_verified_at: when a login by a mailed code first proved the address

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-10

Nullable, and left empty for existing accounts: none of them has proven its address. With
REQUIRE_EMAIL_VERIFICATION on, such an account logs in once with a mailed code before it may
log in with its password or place an order; with it off (the default), nothing reads it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("users", sa.Column("email_verified_at", sa.TIMESTAMP(timezone=True)))


def downgrade() -> None:
    op.drop_column("users", "email_verified_at")
