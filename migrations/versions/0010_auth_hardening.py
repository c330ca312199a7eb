"""usernames unique whatever their case; token generations for logging out everywhere

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05

`demo` and `DEMO` were two accounts: the unique constraint on username becomes a unique index
on lower(username) (usernames are still shown as typed). Existing users that differ only by
case stop the upgrade with their names listed: which of them keeps the name is a decision for
an operator (rename the others, then upgrade again), not for a migration.

users.token_generation and refresh_tokens.generation: every token carries the generation it
was issued in, and logout-all moves the user's on, so every older token stops working.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_DUPLICATES = sa.text(
    "SELECT lower(username) AS name, string_agg(username, ', ' ORDER BY username) AS spellings"
    " FROM users WHERE username IS NOT NULL GROUP BY lower(username) HAVING count(*) > 1"
    " ORDER BY 1"
)


def upgrade() -> None:
    duplicates = op.get_bind().execute(_DUPLICATES).all()
    if duplicates:
        listed = "; ".join(row.spellings for row in duplicates)
        raise RuntimeError(
            f"usernames taken by more than one user when case is ignored: {listed};"
            " rename all but one of each, then run the upgrade again")
    op.drop_constraint("uq_users_username", "users", type_="unique")
    op.create_index("uq_users_username_lower", "users", [sa.text("lower(username)")],
                    unique=True)
    op.add_column("users", sa.Column("token_generation", sa.Integer(), nullable=False,
                                     server_default=sa.text("0")))
    op.add_column("refresh_tokens", sa.Column("generation", sa.Integer(), nullable=False,
                                              server_default=sa.text("0")))


def downgrade() -> None:
    op.drop_column("refresh_tokens", "generation")
    op.drop_column("users", "token_generation")
    op.drop_index("uq_users_username_lower", table_name="users")
    op.create_unique_constraint("uq_users_username", "users", ["username"])
