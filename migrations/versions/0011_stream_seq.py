"""the stream's seq: each order event numbered per user, at commit, in commit order

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05

`order_events.id` is taken at insert, so two transactions can commit out of id order: a
stream that had read id 12 could later find id 11 and skip it. Instead, a deferred
constraint trigger numbers a transaction's events as it commits, under the row lock of the
user's counter in `stream_seqs`, held until the commit is visible. So the seq of a user's
events rises in commit order with no gaps: a reader that sees seq N sees every seq below it.
Counters are locked in user id order, so transactions spanning users cannot deadlock on them.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Runs once per inserted row, at commit. The first run numbers every event this transaction
# inserted (its own uncommitted rows are the only ones it can see with seq NULL); later runs
# find none left.
_SEQUENCE_FUNCTION = """
CREATE FUNCTION order_events_sequence() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    owner record;
    top bigint;
BEGIN
    FOR owner IN SELECT user_id, count(*) AS n FROM order_events WHERE seq IS NULL
                 GROUP BY user_id ORDER BY user_id LOOP
        INSERT INTO stream_seqs AS s (user_id, seq) VALUES (owner.user_id, owner.n)
        ON CONFLICT (user_id) DO UPDATE SET seq = s.seq + excluded.seq
        RETURNING s.seq INTO top;
        UPDATE order_events e SET seq = top - owner.n + numbered.n
        FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM order_events
              WHERE seq IS NULL AND user_id = owner.user_id) AS numbered
        WHERE e.id = numbered.id;
    END LOOP;
    RETURN NULL;
END
$$"""


def upgrade() -> None:
    op.create_table(
        "stream_seqs",
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_stream_seqs")),
    )
    op.add_column("order_events", sa.Column("seq", sa.BigInteger(), nullable=True))
    op.execute("UPDATE order_events e SET seq = numbered.n FROM (SELECT id, row_number()"
               " OVER (PARTITION BY user_id ORDER BY id) AS n FROM order_events) AS numbered"
               " WHERE e.id = numbered.id")
    op.execute("INSERT INTO stream_seqs (user_id, seq)"
               " SELECT user_id, max(seq) FROM order_events GROUP BY user_id")
    op.create_index("uq_order_events_user_seq", "order_events", ["user_id", "seq"],
                    unique=True)
    op.create_index("ix_order_events_unsequenced", "order_events", ["user_id"],
                    postgresql_where=sa.text("seq IS NULL"))
    op.execute(_SEQUENCE_FUNCTION)
    op.execute("CREATE CONSTRAINT TRIGGER order_events_sequence AFTER INSERT ON order_events"
               " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW"
               " EXECUTE FUNCTION order_events_sequence()")


def downgrade() -> None:
    op.execute("DROP TRIGGER order_events_sequence ON order_events")
    op.execute("DROP FUNCTION order_events_sequence()")
    op.drop_index("ix_order_events_unsequenced", table_name="order_events")
    op.drop_index("uq_order_events_user_seq", table_name="order_events")
    op.drop_column("order_events", "seq")
    op.drop_table("stream_seqs")
