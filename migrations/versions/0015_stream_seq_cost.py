"""the stream's seq at a constant cost per commit, however many events it carries

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07

0011's deferred trigger runs once per inserted order_events row at commit, and every run
scanned `ix_order_events_unsequenced`: a worker batch of 64 orders (192 events) scanned it 192
times. That partial index also keeps an entry for every event numbered since the last vacuum
(numbering moves the row out of the predicate, never a HOT update), and a bitmap scan never
marks dead entries, so each scan read thousands of heap pages: a commit of 192 events took
about 400 ms of PostgreSQL CPU, and one of 1 event a few ms. Now a run whose row the first run
already numbered returns after one primary-key lookup, and the scans are plain index scans,
which mark the dead entries they pass so that the next scan skips them.
"""

from collections.abc import Sequence

from alembic import context, op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SEQUENCE_FUNCTION = """
CREATE OR REPLACE FUNCTION order_events_sequence() RETURNS trigger LANGUAGE plpgsql
SET enable_bitmapscan = off AS $$
DECLARE
    owner record;
    top bigint;
BEGIN
    IF (SELECT e.seq FROM order_events e WHERE e.id = NEW.id) IS NOT NULL THEN
        RETURN NULL;  -- an earlier run at this commit numbered it with the rest
    END IF;
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
    op.execute(_SEQUENCE_FUNCTION)


def downgrade() -> None:
    # 0011's own text, so that the two can never drift apart.
    previous = context.script.get_revision("0011")
    assert previous is not None
    assert previous.module is not None
    op.execute("DROP FUNCTION order_events_sequence() CASCADE")
    op.execute(previous.module._SEQUENCE_FUNCTION)  # noqa: SLF001
    op.execute("CREATE CONSTRAINT TRIGGER order_events_sequence AFTER INSERT ON order_events"
               " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW"
               " EXECUTE FUNCTION order_events_sequence()")
