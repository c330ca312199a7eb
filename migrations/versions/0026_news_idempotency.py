"""news_articles.request_hash: POST /admin/news takes an Idempotency-Key

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-15

An admin's post with an Idempotency-Key is stored under the guid `admin:<admin id>:<key>` (the
guid is unique already), so a retry inserts nothing; `request_hash` is the body's fingerprint,
so the key reused with another body is refused rather than answered with the first article.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("news_articles", sa.Column("request_hash", sa.String(length=64),
                                             nullable=True))


def downgrade() -> None:
    op.drop_column("news_articles", "request_hash")
