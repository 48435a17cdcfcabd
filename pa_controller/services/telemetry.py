"""Heartbeat history: raw samples for a short window, five-minute rollups for 90 days.

`record` runs inside the inbox writer's transaction, once per batch of heartbeats: one INSERT of the raw
samples and one upsert of the five-minute buckets, aggregated per cluster in Python first. No ORM object is
built, and each statement is built by SQLAlchemy (the dialect's own upsert) and compiled once per process:
- PostgreSQL: one statement per table and batch, its rows sent as one JSON parameter and expanded by
  `json_to_recordset` on the server (one round trip, one statement to plan, no per-value work in the driver);
- SQLite: one statement per table and batch, run by the driver's executemany (prepared once, stepped per row
  in C, no round trips to speak of).
The rows go to the driver as they are: SQLAlchemy's per-row parameter handling cost more than the database's
own work, and these values need no conversion but the time, which is the same for the whole batch.

Buckets are judged on the controller's clock (`now`, the time the batch is stored), never on a cluster's,
so a cluster with a wrong clock cannot write into the past or the future.

Averages stay exact while every heartbeat carries the value (the firmware always sends rssi and temperature):
a batch adds its mean weighted by its number of beats. A heartbeat without the value (a failed sensor) counts
as the mean of the other beats of its batch, or of the bucket so far when none of its batch had the value (the
model keeps no per-value count); a bucket has no average only if no beat of it had the value.
"""

import json
import operator
from datetime import UTC, datetime, timedelta

from flask import current_app
from sqlalchemy import JSON, and_, bindparam, case, cast, column, delete, func, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from pa_controller import clock
from pa_controller.extensions import db
from pa_controller.models import HeartbeatSample, TelemetryBucket

BUCKET = timedelta(minutes=5)
PRUNE_EVERY = timedelta(minutes=1)
# Per row, then the column the whole batch shares (the time).
SAMPLE_COLUMNS = ("cluster_id", "rssi_dbm", "temp_c", "volume", "speakers_ok", "amp_ok")
BUCKET_COLUMNS = ("cluster_id", "beats", "rssi_avg", "rssi_min", "temp_avg", "temp_max", "volume",
                  "speakers_ok_min", "amp_faults")
UPSERTS = {"postgresql": postgresql_insert, "sqlite": sqlite_insert}

_compiled: dict[tuple, tuple] = {}  # (table, dialect, driver) -> (SQL, row layout for executemany or None: JSON)
_last_prune: datetime | None = None


def bucket_of(moment: datetime) -> datetime:
    """Return the start of the five-minute bucket (UTC) that holds `moment`."""
    utc = moment.astimezone(UTC)
    return utc.replace(minute=utc.minute - utc.minute % 5, second=0, microsecond=0)


def record(messages: list[tuple[str, dict]], now: datetime) -> None:
    """Store the measurements of a batch of heartbeats from known clusters (called by ingest)."""
    if not messages:
        return
    samples = []
    rollups: dict[str, list] = {}
    for cid, payload in messages:
        rssi, temp, volume = payload.get("rssi_dbm"), payload.get("temp_c"), payload.get("volume")
        speakers_ok, amp_ok = payload.get("speakers_ok"), payload.get("amp_ok")
        samples.append((cid, rssi, temp, volume, speakers_ok, amp_ok))
        roll = rollups.get(cid)
        if roll is None:
            # beats, rssi sum, rssi count, rssi min, temp sum, temp count, temp max, volume, speakers min, amp faults
            roll = rollups[cid] = [0, 0.0, 0, None, 0.0, 0, None, None, None, 0]
        roll[0] += 1
        if rssi is not None:
            roll[1] += rssi
            roll[2] += 1
            if roll[3] is None or rssi < roll[3]:
                roll[3] = rssi
        if temp is not None:
            roll[4] += temp
            roll[5] += 1
            if roll[6] is None or temp > roll[6]:
                roll[6] = temp
        if volume is not None:
            roll[7] = volume
        if speakers_ok is not None and (roll[8] is None or speakers_ok < roll[8]):
            roll[8] = speakers_ok
        if amp_ok is False:
            roll[9] += 1
    buckets = [(cid, r[0], r[1] / r[2] if r[2] else None, r[3], r[4] / r[5] if r[5] else None, r[6], r[7], r[8], r[9])
               for cid, r in rollups.items()]
    connection = db.session.connection()
    _write(connection, HeartbeatSample.__table__, SAMPLE_COLUMNS, samples, "at", now)
    _write(connection, TelemetryBucket.__table__, BUCKET_COLUMNS, buckets, "bucket_at", bucket_of(now))


def _write(connection, table, columns: tuple[str, ...], rows: list[tuple], shared: str, value) -> None:
    """Insert (samples) or upsert (buckets) `rows` of `columns`, each with `shared` = `value`, in one statement."""
    dialect = connection.dialect
    key = (table.name, dialect.name, dialect.driver)
    if key not in _compiled:
        _compiled[key] = _compile(table, columns, shared, dialect)
    sql, getter = _compiled[key]
    if process := table.c[shared].type.dialect_impl(dialect).bind_processor(dialect):
        value = process(value)  # the time in UTC (naive, as text, on SQLite)
    if getter is None:
        batch = json.dumps([dict(zip(columns, row, strict=True)) for row in rows], separators=(",", ":"))
        connection.exec_driver_sql(sql, {"batch": batch, shared: value})
    else:
        connection.exec_driver_sql(sql, [getter((*row, value)) for row in rows])


def _compile(table, columns: tuple[str, ...], shared: str, dialect) -> tuple:
    """Compile the batch's statement for this database; return its SQL and how to lay out a row for it."""
    everything = (*columns, shared)
    if dialect.name == "postgresql":
        batch = func.json_to_recordset(cast(bindparam("batch"), JSON)).table_valued(
            *(column(c, table.c[c].type) for c in columns)).render_derived(name="batch", with_types=True)
        rows = select(*batch.c, bindparam(shared, type_=table.c[shared].type))
        statement = _finish(table, postgresql_insert(table).from_select(everything, rows))
        return statement.compile(dialect=dialect).string, None
    statement = _finish(table, UPSERTS[dialect.name](table))
    compiled = statement.compile(dialect=dialect, column_keys=list(everything), for_executemany=True)
    if not compiled.positional:
        raise RuntimeError(f"{dialect.name}: expected positional parameters for executemany")
    return compiled.string, operator.itemgetter(*(everything.index(name) for name in compiled.positiontup))


def _finish(table, statement):
    """Samples are only inserted; a bucket merges the batch into what it holds."""
    if table is not TelemetryBucket.__table__:
        return statement
    old, new = table.c, statement.excluded
    return statement.on_conflict_do_update(
        index_elements=[old.cluster_id, old.bucket_at],
        set_={
            "beats": old.beats + new.beats,
            "rssi_avg": _mean(old.rssi_avg, old.beats, new.rssi_avg, new.beats),
            "rssi_min": _pick(old.rssi_min, new.rssi_min, new.rssi_min < old.rssi_min),
            "temp_avg": _mean(old.temp_avg, old.beats, new.temp_avg, new.beats),
            "temp_max": _pick(old.temp_max, new.temp_max, new.temp_max > old.temp_max),
            "volume": func.coalesce(new.volume, old.volume),
            "speakers_ok_min": _pick(old.speakers_ok_min, new.speakers_ok_min,
                                     new.speakers_ok_min < old.speakers_ok_min),
            "amp_faults": old.amp_faults + new.amp_faults,
        },
    )


def _mean(old_avg, old_beats, new_avg, new_beats):
    """The mean of the stored bucket and the batch, weighted by their beats; a missing side is left out."""
    return case(
        (new_avg.is_(None), old_avg),
        (old_avg.is_(None), new_avg),
        else_=(old_avg * old_beats + new_avg * new_beats) / (old_beats + new_beats),
    )


def _pick(old, new, new_wins):
    """`new` if it is present and wins (or nothing is stored), else `old`: MIN/MAX that skip NULL on both databases."""
    return case((and_(new.is_not(None), old.is_(None) | new_wins), new), else_=old)


def history(cluster_id: str, since: datetime, until: datetime | None = None) -> list[TelemetryBucket]:
    """Return a cluster's buckets from the one holding `since` up to `until` (default: now), oldest first."""
    query = select(TelemetryBucket).where(
        TelemetryBucket.cluster_id == cluster_id, TelemetryBucket.bucket_at >= bucket_of(since))
    if until is not None:
        query = query.where(TelemetryBucket.bucket_at <= until)
    return list(db.session.scalars(query.order_by(TelemetryBucket.bucket_at)))


def prune(now: datetime | None = None, *, force: bool = False) -> tuple[int, int] | None:
    """Delete samples older than TELEMETRY_RAW_H hours and buckets older than TELEMETRY_KEEP_D days.

    Does the work at most once a minute (the scheduler calls it every plan tick) unless `force`; returns
    (samples, buckets) deleted, or None when it was not yet time.
    """
    global _last_prune
    now = now or clock.now()
    if not force and _last_prune is not None and timedelta(0) <= now - _last_prune < PRUNE_EVERY:
        return None
    config = current_app.config
    raw_until = now - timedelta(hours=config.get("TELEMETRY_RAW_H", 6))
    keep_until = now - timedelta(days=config.get("TELEMETRY_KEEP_D", 90))
    samples = db.session.execute(delete(HeartbeatSample.__table__).where(HeartbeatSample.at < raw_until)).rowcount
    buckets = db.session.execute(
        delete(TelemetryBucket.__table__).where(TelemetryBucket.bucket_at < keep_until)).rowcount
    db.session.commit()
    _last_prune = now
    return samples, buckets
