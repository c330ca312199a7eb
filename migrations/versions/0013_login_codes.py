"""login codes: one-time codes for logging in by e-mail

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06

One row per account (keyed by user_id): a new code replaces the old one, so an account never
holds two live codes. Only an HMAC of the code is stored. A used or burnt code is kept until
it is replaced: its `issued_at` is what throttles how often a new code is mailed.
`issued_at` and `expires_at` are the app clock's, not now(), so tests can set the time.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TIMESTAMP = sa.TIMESTAMP(timezone=True)


def upgrade() -> None:
    op.create_table(
        "login_codes",
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("issued_at", _TIMESTAMP, nullable=False),
        sa.Column("expires_at", _TIMESTAMP, nullable=False),
        sa.Column("failed_attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("used_at", _TIMESTAMP, nullable=True),
        sa.CheckConstraint("failed_attempts >= 0",
                           name=op.f("ck_login_codes_failed_attempts_not_negative")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"],
                                name=op.f("fk_login_codes_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_login_codes")),
    )


def downgrade() -> None:
    op.drop_table("login_codes")
