"""market news: articles imported from feed files or posted by admins, linked to symbols

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-11

Text only: a title, a summary and the article's link kept as text (the API never opens it).
An article is known by its guid (a feed's guid, else its link; an admin's post a generated
one), unique, so importing a feed again adds nothing. news_symbols repeats the article's
published_at so that one symbol's news is one index range, newest first.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TIMESTAMP = sa.TIMESTAMP(timezone=True)


def upgrade() -> None:
    op.create_table(
        "news_articles",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("guid", sa.String(length=512), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=True),
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("published_at", _TIMESTAMP, nullable=False),
        sa.Column("origin", sa.String(length=8), nullable=False),
        sa.Column("posted_by", sa.UUID(), nullable=True),
        sa.Column("created_at", _TIMESTAMP, server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("origin IN ('feed', 'admin')", name="origin"),
        sa.ForeignKeyConstraint(["posted_by"], ["users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("guid", name="uq_news_articles_guid"),
    )
    op.create_index("ix_news_articles_published", "news_articles",
                    [sa.text("published_at DESC"), sa.text("id DESC")])
    op.create_table(
        "news_symbols",
        sa.Column("article_id", sa.UUID(), nullable=False),
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column("published_at", _TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(["article_id"], ["news_articles.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["symbol"], ["instruments.symbol"]),
        sa.PrimaryKeyConstraint("article_id", "symbol"),
    )
    op.create_index("ix_news_symbols_symbol_published", "news_symbols",
                    ["symbol", sa.text("published_at DESC"), sa.text("article_id DESC")])


def downgrade() -> None:
    op.drop_table("news_symbols")
    op.drop_table("news_articles")
