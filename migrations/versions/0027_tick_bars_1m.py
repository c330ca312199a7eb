"""tick_bars_1m: a 1-minute bar per symbol and minute, kept by triggers on ticks

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-16

OHLC and trending aggregated raw ticks, so their cost grew with the ticks a range covers (a
day of 1m bars of a liquid symbol read ~86,000 of them). tick_bars_1m holds, per symbol and
whole UTC minute, what the raw aggregation gives for that minute: open, high, low, close,
volume and the tick count, plus the instants of the minute's first and last tick, which is
all a merge of two bars needs: the raw queries order ticks by their key (ts, ltp, ltq, ...),
so among ticks of one instant the open is the lowest ltp and the close the highest, and no
further key column can change which price that is.

Statement-level triggers on ticks keep it, with transition tables (one statement per import,
not one call per row):
- AFTER INSERT merges the inserted rows' bars into the stored ones (INSERT ... ON CONFLICT DO
  UPDATE: high/low/volume/ticks combine, open comes from the earlier first tick, close from the
  later last tick). A merge commutes, so two imports committing in any order give the bars of
  all their ticks; an insert that ON CONFLICT DO NOTHING skipped is not in the transition table.
- AFTER UPDATE and AFTER DELETE recount the minutes the changed rows were in (old and new)
  from ticks. A recount cannot commute with a concurrent merge, so it first takes a lock on
  tick_bars_1m that waits for open writers and holds new ones off until it commits (under READ
  COMMITTED its statements then see every committed tick; under REPEATABLE READ a conflicting
  writer fails with a serialization error rather than a wrong bar). Updates and deletes of
  ticks are rare maintenance, so imports do not wait on them in practice.
- AFTER TRUNCATE empties it.

Minutes are date_bin('1 minute', ts, epoch), which does not depend on the session's TimeZone
as date_trunc on a timestamptz does. A load with session_replication_role = replica skips
these triggers and must fill the table itself (bench/dataset.py does).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_MINUTE = "date_bin(interval '1 minute', ts, timestamptz '1970-01-01 00:00:00+00')"
# One pass over the rows, no sort: arrays compare element by element, so the least
# [epoch of ts, ltp] is the first tick by (ts, ltp), the order the raw queries take it in.
_BARS_OF = f"""
SELECT symbol, {_MINUTE} AS minute,
       (min(ARRAY[extract(epoch FROM ts), ltp]))[2] AS open, max(ltp) AS high,
       min(ltp) AS low, (max(ARRAY[extract(epoch FROM ts), ltp]))[2] AS close,
       sum(ltq) AS volume, count(*) AS ticks, min(ts) AS first_ts, max(ts) AS last_ts
FROM {{rows}}
GROUP BY 1, 2
"""
_COLUMNS = "symbol, minute, open, high, low, close, volume, ticks, first_ts, last_ts"

_INSERT_FUNCTION = f"""
CREATE FUNCTION tick_bars_1m_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO tick_bars_1m AS b ({_COLUMNS})
    {_BARS_OF.format(rows="added")}
    ON CONFLICT (symbol, minute) DO UPDATE SET
        open = CASE WHEN excluded.first_ts < b.first_ts THEN excluded.open
                    WHEN excluded.first_ts > b.first_ts THEN b.open
                    ELSE least(b.open, excluded.open) END,
        close = CASE WHEN excluded.last_ts > b.last_ts THEN excluded.close
                     WHEN excluded.last_ts < b.last_ts THEN b.close
                     ELSE greatest(b.close, excluded.close) END,
        high = greatest(b.high, excluded.high),
        low = least(b.low, excluded.low),
        volume = b.volume + excluded.volume,
        ticks = b.ticks + excluded.ticks,
        first_ts = least(b.first_ts, excluded.first_ts),
        last_ts = greatest(b.last_ts, excluded.last_ts);
    RETURN NULL;
END
$$"""

_RECOUNT_FUNCTION = f"""
CREATE FUNCTION tick_bars_1m_recount(symbols text[], minutes timestamptz[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF symbols IS NULL THEN
        RETURN;  -- the statement changed no row
    END IF;
    LOCK TABLE tick_bars_1m IN SHARE ROW EXCLUSIVE MODE;
    DELETE FROM tick_bars_1m b USING unnest(symbols, minutes) AS t(symbol, minute)
    WHERE b.symbol = t.symbol AND b.minute = t.minute;
    INSERT INTO tick_bars_1m ({_COLUMNS})
    {_BARS_OF.format(
        rows="(SELECT k.* FROM unnest(symbols, minutes) AS t(symbol, minute)"
             " JOIN ticks k ON k.symbol = t.symbol AND k.ts >= t.minute"
             " AND k.ts < t.minute + interval '1 minute') AS k")};
END
$$"""

_UPDATE_FUNCTION = f"""
CREATE FUNCTION tick_bars_1m_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM tick_bars_1m_recount(array_agg(symbol), array_agg(minute))
    FROM (SELECT symbol, {_MINUTE} AS minute FROM removed
          UNION SELECT symbol, {_MINUTE} FROM added) AS touched;
    RETURN NULL;
END
$$"""

_DELETE_FUNCTION = f"""
CREATE FUNCTION tick_bars_1m_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM tick_bars_1m_recount(array_agg(symbol), array_agg(minute))
    FROM (SELECT DISTINCT symbol, {_MINUTE} AS minute FROM removed) AS touched;
    RETURN NULL;
END
$$"""

_TRUNCATE_FUNCTION = """
CREATE FUNCTION tick_bars_1m_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE tick_bars_1m;
    RETURN NULL;
END
$$"""

_TABLE = """
CREATE TABLE tick_bars_1m (
    symbol varchar(32) NOT NULL,
    minute timestamptz NOT NULL,
    open numeric(24, 8) NOT NULL,
    high numeric(24, 8) NOT NULL,
    low numeric(24, 8) NOT NULL,
    close numeric(24, 8) NOT NULL,
    volume numeric NOT NULL,
    ticks bigint NOT NULL,
    first_ts timestamptz NOT NULL,
    last_ts timestamptz NOT NULL,
    CONSTRAINT pk_tick_bars_1m PRIMARY KEY (symbol, minute),
    CONSTRAINT ck_tick_bars_1m_sane CHECK (low <= high AND ticks > 0 AND first_ts <= last_ts)
)"""

_TRIGGERS = (
    "CREATE TRIGGER tick_bars_1m_insert AFTER INSERT ON ticks REFERENCING NEW TABLE AS added"
    " FOR EACH STATEMENT EXECUTE FUNCTION tick_bars_1m_insert()",
    "CREATE TRIGGER tick_bars_1m_update AFTER UPDATE ON ticks"
    " REFERENCING OLD TABLE AS removed NEW TABLE AS added"
    " FOR EACH STATEMENT EXECUTE FUNCTION tick_bars_1m_update()",
    "CREATE TRIGGER tick_bars_1m_delete AFTER DELETE ON ticks REFERENCING OLD TABLE AS removed"
    " FOR EACH STATEMENT EXECUTE FUNCTION tick_bars_1m_delete()",
    "CREATE TRIGGER tick_bars_1m_truncate AFTER TRUNCATE ON ticks"
    " FOR EACH STATEMENT EXECUTE FUNCTION tick_bars_1m_truncate()",
)


def upgrade() -> None:
    op.execute(_TABLE)
    for function in (_INSERT_FUNCTION, _RECOUNT_FUNCTION, _UPDATE_FUNCTION, _DELETE_FUNCTION,
                     _TRUNCATE_FUNCTION):
        op.execute(function)
    # CREATE TRIGGER's own lock mode, taken first: writers of ticks wait from here to the
    # migration's commit, so the backfill sees every committed tick and the triggers every
    # later one, none missed or counted twice.
    op.execute("LOCK TABLE ticks IN SHARE ROW EXCLUSIVE MODE")
    for trigger in _TRIGGERS:
        op.execute(trigger)
    op.execute(f"INSERT INTO tick_bars_1m ({_COLUMNS}) "
               + _BARS_OF.format(rows="ticks"))


def downgrade() -> None:
    for event in ("insert", "update", "delete", "truncate"):
        op.execute(f"DROP TRIGGER tick_bars_1m_{event} ON ticks")
        op.execute(f"DROP FUNCTION tick_bars_1m_{event}()")
    op.execute("DROP FUNCTION tick_bars_1m_recount(text[], timestamptz[])")
    op.execute("DROP TABLE tick_bars_1m")
