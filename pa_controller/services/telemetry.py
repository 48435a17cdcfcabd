"""Heartbeat history: raw samples for a short window, five-minute rollups for longer (services/retention.py prunes
both).

`record` runs inside the inbox writer's transaction, once per batch of heartbeats: one INSERT of the raw
samples and one upsert of the five-minute buckets, aggregated per cluster in Python first, each one statement
per batch (services/bulk.py). No ORM object is built.

Buckets are judged on the controller's clock (`now`, the time the batch is stored), never on a cluster's,
so a cluster with a wrong clock cannot write into the past or the future.

Averages stay exact while every heartbeat carries the value (the firmware always sends rssi and temperature):
a batch adds its mean weighted by its number of beats. A heartbeat without the value (a failed sensor) counts
as the mean of the other beats of its batch, or of the bucket so far when none of its batch had the value (the
model keeps no per-value count); a bucket has no average only if no beat of it had the value.
"""

from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, case, func, select, true

from pa_controller.extensions import db
from pa_controller.models import HeartbeatSample, TelemetryBucket
from pa_controller.services.bulk import BulkStatement

BUCKET = timedelta(minutes=5)
SAMPLE_COLUMNS = ("cluster_id", "rssi_dbm", "temp_c", "volume", "speakers_ok", "amp_ok")
BUCKET_COLUMNS = ("cluster_id", "beats", "rssi_avg", "rssi_min", "temp_avg", "temp_max", "volume",
                  "speakers_ok_min", "amp_faults")


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
    SAMPLES.run(connection, samples, at=now)
    BUCKETS.run(connection, buckets, bucket_at=bucket_of(now))


def _insert_samples(rows, insert, at):
    table = HeartbeatSample.__table__
    return insert(table).from_select([*SAMPLE_COLUMNS, "at"], select(*rows.c, at))


def _merge_buckets(rows, insert, bucket_at):
    """Each bucket merges the batch into what it holds."""
    table = TelemetryBucket.__table__
    # WHERE true: SQLite cannot otherwise tell an upsert's ON CONFLICT from a join's ON.
    statement = insert(table).from_select([*BUCKET_COLUMNS, "bucket_at"], select(*rows.c, bucket_at).where(true()))
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


SAMPLES = BulkStatement(HeartbeatSample.__table__, SAMPLE_COLUMNS, {"at": HeartbeatSample.at.type}, _insert_samples)
BUCKETS = BulkStatement(TelemetryBucket.__table__, BUCKET_COLUMNS, {"bucket_at": TelemetryBucket.bucket_at.type},
                        _merge_buckets)


def history(cluster_id: str, since: datetime, until: datetime | None = None) -> list[TelemetryBucket]:
    """Return a cluster's buckets from the one holding `since` up to `until` (default: now), oldest first."""
    query = select(TelemetryBucket).where(
        TelemetryBucket.cluster_id == cluster_id, TelemetryBucket.bucket_at >= bucket_of(since))
    if until is not None:
        query = query.where(TelemetryBucket.bucket_at <= until)
    return list(db.session.scalars(query.order_by(TelemetryBucket.bucket_at)))
