"""Heartbeat ingest: one UPDATE per batch must keep the rules of applying heartbeats one by one."""

from datetime import UTC, datetime, timedelta

from pa_controller.domain import ClusterStatus
from pa_controller.extensions import db
from pa_controller.models import ClusterState
from pa_controller.services import ingest
from pa_protocol import format_time

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def beat(cid: str, seq: int, boot: str = "boot-1", **fields) -> tuple[str, dict]:
    payload = {"v": 1, "cid": cid, "at": format_time(T0), "boot_id": boot, "seq": seq, "uptime_s": 5 * seq,
               "state": "idle", "playing": None, "armed": [], "volume": 70, "rssi_dbm": -70.5, "temp_c": 40,
               "speakers_ok": 2, "speakers_total": 2, "amp_ok": True, "fw": "1.0", **fields}
    return cid, {name: value for name, value in payload.items() if value is not ...}  # ... leaves a field out


def apply(*messages: tuple[str, dict], now: datetime = T0) -> int:
    applied = ingest.apply_heartbeats(list(messages), now)
    db.session.commit()
    db.session.expire_all()
    return applied


def state(cid: str) -> ClusterState:
    return db.session.get(ClusterState, cid)


def test_the_last_heartbeat_of_a_batch_wins_for_each_cluster(seeded):
    assert apply(beat("om-tho-001", 1, volume=50), beat("om-tho-002", 1, volume=20),
                 beat("om-tho-001", 2, volume=60, state="playing", playing="run-7")) == 3
    first, second = state("om-tho-001"), state("om-tho-002")
    assert (first.seq, first.volume, first.activity, first.playing) == (2, 60, "playing", "run-7")
    assert (second.seq, second.volume, second.rssi_dbm) == (1, 20, -70.5)
    assert first.heartbeat_at == first.last_seen == T0


def test_heartbeats_of_one_cluster_in_a_batch_apply_in_turn(seeded):
    apply(beat("om-tho-001", 1, volume=40, temp_c=30), beat("om-tho-001", 2, volume=..., temp_c=35.5))
    first = state("om-tho-001")
    assert (first.seq, first.volume, first.temp_c) == (2, 40, 35.5)  # the later one left volume out


def test_a_field_left_out_keeps_its_value_and_a_null_clears_it(seeded):
    apply(beat("om-tho-001", 1, volume=55, temp_c=41.5, playing="run-7", state="playing"))
    later = T0 + timedelta(seconds=30)
    # One batch mixing heartbeats with different fields: each keeps what it leaves out.
    apply(beat("om-tho-001", 2, volume=..., temp_c=..., playing=None),
          beat("om-tho-002", 1, amp_ok=False, fw=...), now=later)
    first, second = state("om-tho-001"), state("om-tho-002")
    assert (first.seq, first.volume, first.temp_c, first.playing, first.activity) == (2, 55, 41.5, None, "idle")
    assert first.heartbeat_at == later
    assert second.amp_ok is False and second.fw is None


def test_a_heartbeat_brings_a_cluster_online_with_its_boot_but_never_changes_an_online_ones(seeded):
    apply(beat("om-tho-001", 1, boot="boot-a"))  # never heard before: its birth was missed
    first = state("om-tho-001")
    assert (first.online, first.status, first.boot_id) == (True, ClusterStatus.ONLINE, "boot-a")
    apply(beat("om-tho-001", 2, boot="boot-b"))  # online already: the boot stays the birth's
    assert state("om-tho-001").boot_id == "boot-a"
    cluster = state("om-tho-001")
    cluster.online, cluster.status = False, ClusterStatus.OFFLINE  # a will arrived
    db.session.commit()
    apply(beat("om-tho-001", 3, boot="boot-c"))
    again = state("om-tho-001")
    assert (again.online, again.status, again.boot_id, again.seq) == (True, ClusterStatus.ONLINE, "boot-c", 3)


def test_heartbeats_of_unknown_clusters_are_skipped_and_the_rest_stored(seeded):
    assert apply(beat("om-nowhere-9", 1), beat("om-tho-001", 4)) == 1
    assert state("om-tho-001").seq == 4
    assert state("om-nowhere-9") is None


def status(cid: str, online: bool, boot: str, conn: int | None, at: datetime) -> tuple[str, dict]:
    payload = {"v": 1, "cid": cid, "online": online, "boot_id": boot, "fw": "1.0", "at": format_time(at)}
    return cid, payload if conn is None else {**payload, "conn": conn}


def apply_statuses(*messages: tuple[str, dict]) -> None:
    ingest.apply_statuses(list(messages), T0)
    db.session.commit()
    db.session.expire_all()


def test_the_will_of_the_current_connection_marks_offline_though_it_was_stamped_before_the_birth(seeded):
    """The will is fixed at CONNECT: a firmware stamping milliseconds dates it before the birth of the same link."""
    connected = T0 + timedelta(milliseconds=120)
    apply_statuses(status("om-tho-001", True, "boot-1", 1, connected + timedelta(milliseconds=900)))
    apply_statuses(status("om-tho-001", False, "boot-1", 1, connected))
    assert (state("om-tho-001").online, state("om-tho-001").status) == (False, ClusterStatus.OFFLINE)
    # Firmware without `conn` is told by its boot alone: the same boot's will is current, whatever its time.
    apply_statuses(status("om-tho-002", True, "boot-1", None, connected + timedelta(seconds=1)))
    apply_statuses(status("om-tho-002", False, "boot-1", None, connected))
    assert state("om-tho-002").online is False


def test_a_late_will_of_an_earlier_connection_or_boot_leaves_the_cluster_online(seeded):
    apply_statuses(status("om-tho-001", True, "boot-1", 3, T0))
    apply_statuses(status("om-tho-001", False, "boot-1", 2, T0 - timedelta(seconds=5)),  # the link before
                   status("om-tho-001", False, "boot-0", 7, T0 - timedelta(minutes=5)))  # the boot before
    assert (state("om-tho-001").online, state("om-tho-001").boot_id, state("om-tho-001").conn) == (True, "boot-1", 3)


def test_the_will_of_a_connection_that_died_before_its_birth_marks_offline(seeded):
    apply_statuses(status("om-tho-001", True, "boot-1", 3, T0))
    apply_statuses(status("om-tho-001", False, "boot-1", 4, T0 + timedelta(seconds=40)))
    assert state("om-tho-001").online is False


def test_a_heartbeat_of_a_new_boot_forgets_the_old_boots_connection_count(seeded):
    apply_statuses(status("om-tho-001", True, "boot-1", 5, T0))
    apply_statuses(status("om-tho-001", False, "boot-1", 5, T0))
    apply(beat("om-tho-001", 1, boot="boot-2"))  # boot-2's birth was missed
    assert (state("om-tho-001").online, state("om-tho-001").conn) == (True, None)
    apply_statuses(status("om-tho-001", False, "boot-2", 1, T0))
    assert state("om-tho-001").online is False
