"""a cancel supersedes a waiting replace: PENDING_CANCEL may hold the terms that replace awaits

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# PENDING_REPLACE always knows its new terms; PENDING_CANCEL may, while the replace it
# superseded is still unanswered; nothing else waits on terms.
PENDING_TERMS = ("(status <> 'PENDING_REPLACE' OR pending_terms IS NOT NULL) AND"
                 " (pending_terms IS NULL OR status IN ('PENDING_CANCEL', 'PENDING_REPLACE'))")
ONLY_REPLACE = "(status = 'PENDING_REPLACE') = (pending_terms IS NOT NULL)"


def upgrade() -> None:
    op.drop_constraint(op.f("ck_orders_pending_terms"), "orders", type_="check")
    op.create_check_constraint("pending_terms", "orders", PENDING_TERMS)


def downgrade() -> None:
    # A superseded replace's terms cannot stay under the older rule: they are dropped.
    op.execute("UPDATE orders SET pending_terms = NULL WHERE status = 'PENDING_CANCEL'")
    op.drop_constraint(op.f("ck_orders_pending_terms"), "orders", type_="check")
    op.create_check_constraint("pending_terms", "orders", ONLY_REPLACE)
