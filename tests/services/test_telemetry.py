"""Telemetry: raw samples and five-minute rollups of heartbeats, fed through the inbox, on the controller's clock."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

import pa_protocol as protocol
from pa_controller import clock
from pa_controller.extensions import db
from pa_controller.messaging.inbox import Inbox
from pa_controller.models import ClusterState, HeartbeatSample, TelemetryBucket
from pa_controller.services import ingest, telemetry
from pa_controller.services.report_writer import ReportWriter

T0 = datetime(2026, 11, 26, 22, 1, 10, tzinfo=UTC)  # in the bucket that starts at 22:00
CLUSTER_CLOCK = "2020-01-01T00:00:00.000Z"  # a cluster with a wrong clock: ignored for bucketing
MEASURES = ("rssi_dbm", "temp_c", "volume", "speakers_ok", "amp_ok")


def heartbeat(cid: str, seq: int = 1, **measures) -> bytes:
    """A valid heartbeat; a measurement given as None is left out of the payload (all are optional)."""
    payload = {"v": 1, "cid": cid, "at": CLUSTER_CLOCK, "boot_id": "boot-1", "seq": seq, "state": "idle",
               "speakers_total": 2, **{name: value for name, value in measures.items() if value is not None}}
    return json.dumps(payload).encode()


def beat(rssi, temp, volume, speakers_ok, amp_ok) -> dict:
    return dict(zip(MEASURES, (rssi, temp, volume, speakers_ok, amp_ok), strict=True))


@pytest.fixture
def at(monkeypatch):
    """Set the controller's clock."""
    def set_clock(moment: datetime) -> None:
        monkeypatch.setattr(clock, "now", lambda: moment)
    return set_clock


@pytest.fixture
def feed(seeded, at):
    """Deliver heartbeats to an inbox as the MQTT link does, and flush them as one batch at a given time."""
    inbox = Inbox("pa/v1", ReportWriter(seeded, ingest.APPLY_IN_ORDER))

    def deliver(moment: datetime, *beats: tuple[str, dict]) -> Inbox:
        at(moment)
        for seq, (cid, measures) in enumerate(beats, start=1):
            inbox.receive(protocol.topic("pa/v1", cid, protocol.HEARTBEAT), heartbeat(cid, seq, **measures))
        inbox.flush([inbox._queue.get_nowait() for _ in range(inbox._queue.qsize())])
        db.session.expire_all()
        return inbox

    return deliver


def buckets(cid: str) -> list[TelemetryBucket]:
    return list(db.session.scalars(
        select(TelemetryBucket).where(TelemetryBucket.cluster_id == cid).order_by(TelemetryBucket.bucket_at)))


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_heartbeats_roll_up_into_five_minute_buckets_across_batches(feed):
    feed(T0,
         ("om-cvl-001", beat(-70.0, 40.0, 60, 2, True)),
         ("om-cvl-001", beat(-81.0, 42.5, 70, 1, False)),
         ("om-cvl-002", beat(-90.5, 35.0, 50, 2, True)))
    feed(T0 + timedelta(minutes=3, seconds=49, microseconds=999_999),  # 22:04:59.999999: still the same bucket
         ("om-cvl-001", beat(-75.0, 39.0, 65, 2, False)),
         ("om-cvl-001", beat(-77.0, 41.0, 55, 2, True)))
    feed(T0 + timedelta(minutes=3, seconds=50),  # 22:05:00: the next bucket
         ("om-cvl-001", beat(-60.0, 38.0, 40, 2, True)))

    first, second = buckets("om-cvl-001")
    assert first.bucket_at == datetime(2026, 11, 26, 22, 0, tzinfo=UTC)
    assert first.beats == 4
    assert first.rssi_avg == pytest.approx((-70.0 - 81.0 - 75.0 - 77.0) / 4)
    assert first.rssi_min == -81.0
    assert first.temp_avg == pytest.approx((40.0 + 42.5 + 39.0 + 41.0) / 4)
    assert first.temp_max == 42.5
    assert first.volume == 55  # the last one
    assert first.speakers_ok_min == 1
    assert first.amp_faults == 2
    assert second.bucket_at == datetime(2026, 11, 26, 22, 5, tzinfo=UTC)
    assert (second.beats, second.rssi_avg, second.rssi_min, second.temp_avg, second.temp_max, second.volume,
            second.speakers_ok_min, second.amp_faults) == (1, -60.0, -60.0, 38.0, 38.0, 40, 2, 0)
    [other] = buckets("om-cvl-002")
    assert (other.beats, other.rssi_avg, other.rssi_min, other.temp_max, other.amp_faults) == (1, -90.5, -90.5, 35.0, 0)

    samples = db.session.scalars(select(HeartbeatSample).where(HeartbeatSample.cluster_id == "om-cvl-001")
                                 .order_by(HeartbeatSample.id)).all()
    assert [s.rssi_dbm for s in samples] == [-70.0, -81.0, -75.0, -77.0, -60.0]
    assert [s.amp_ok for s in samples] == [True, False, False, True, True]
    assert samples[0].at == T0 and samples[-1].at == T0 + timedelta(minutes=3, seconds=50)  # the controller's clock
    # The latest values stay in ClusterState.
    state = db.session.get(ClusterState, "om-cvl-001")
    assert (state.rssi_dbm, state.volume, state.heartbeat_at) == (-60.0, 40, T0 + timedelta(minutes=3, seconds=50))


def test_missing_measurements_count_as_beats_but_never_blank_a_bucket(feed):
    feed(T0, ("om-cvl-001", {}), ("om-cvl-002", beat(-70.0, 40.0, 60, 2, True)))
    feed(T0 + timedelta(seconds=30),
         ("om-cvl-001", beat(-80.0, None, 30, None, None)),
         ("om-cvl-002", {}))
    feed(T0 + timedelta(seconds=60), ("om-cvl-002", {"rssi_dbm": -72.0}), ("om-cvl-002", {"rssi_dbm": None}))

    [nothing_then_some] = buckets("om-cvl-001")
    assert nothing_then_some.beats == 2
    assert (nothing_then_some.rssi_avg, nothing_then_some.rssi_min, nothing_then_some.volume) == (-80.0, -80.0, 30)
    assert (nothing_then_some.temp_avg, nothing_then_some.temp_max, nothing_then_some.speakers_ok_min) == (
        None, None, None)
    assert nothing_then_some.amp_faults == 0  # an unknown amplifier state is no fault
    [some_then_nothing] = buckets("om-cvl-002")
    assert some_then_nothing.beats == 4
    assert (some_then_nothing.temp_avg, some_then_nothing.temp_max, some_then_nothing.volume) == (40.0, 40.0, 60)
    assert some_then_nothing.speakers_ok_min == 2
    # Exact while every beat carries the value; a beat without it counts as the mean of its batch's others, or
    # of the bucket so far when its batch has none: (-70, as -70) then (-72, as -72).
    assert some_then_nothing.rssi_avg == pytest.approx((-70.0 * 2 + -72.0 * 2) / 4)
    assert some_then_nothing.rssi_min == -72.0
    assert count(HeartbeatSample) == 6


def test_heartbeats_of_unknown_clusters_store_nothing(feed):
    inbox = feed(T0, ("xx-unknown-001", beat(-70.0, 40.0, 60, 2, True)),
                 ("om-cvl-001", beat(-71.0, 41.0, 61, 2, True)))
    assert inbox.applied == 1
    assert count(HeartbeatSample) == 1 and count(TelemetryBucket) == 1
    assert buckets("xx-unknown-001") == []
    assert db.session.get(ClusterState, "xx-unknown-001") is None


def test_history_returns_a_clusters_buckets_oldest_first(feed):
    for minutes in (0, 5, 10, 15):
        feed(T0 + timedelta(minutes=minutes), ("om-cvl-001", beat(-70.0 - minutes, 40.0, 60, 2, True)),
             ("om-cvl-002", beat(-50.0, 30.0, 60, 2, True)))
    rows = telemetry.history("om-cvl-001", T0 + timedelta(minutes=6))  # from the bucket that holds 22:07:10
    assert [(r.bucket_at.minute, r.rssi_avg) for r in rows] == [(5, -75.0), (10, -80.0), (15, -85.0)]
    rows = telemetry.history("om-cvl-001", T0, until=T0 + timedelta(minutes=5))
    assert [r.bucket_at.minute for r in rows] == [0, 5]
    assert telemetry.history("om-cvl-003", T0) == []


def test_bucket_of_floors_to_five_minutes_utc():
    hanoi = datetime(2026, 11, 27, 5, 14, 59, 999_999, tzinfo=clock.LOCAL_ZONE)
    assert telemetry.bucket_of(hanoi) == datetime(2026, 11, 26, 22, 10, tzinfo=UTC)
    assert telemetry.bucket_of(datetime(2026, 11, 26, 22, 15, tzinfo=UTC)) == datetime(2026, 11, 26, 22, 15, tzinfo=UTC)
