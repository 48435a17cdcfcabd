"""Dispatch and ingest: one command per cluster through the outbox, states that only move forward."""

import json
from datetime import timedelta

from sqlalchemy import func, select, update

import pa_protocol as protocol
from pa_controller import clock
from pa_controller.domain import Role
from pa_controller.extensions import db
from pa_controller.messaging.inbox import Inbox
from pa_controller.models import Cluster, Delivery, OutboxMessage, Run, User
from pa_controller.services import broadcasts, dispatch, ingest, planning
from pa_controller.services.people import create_user
from pa_controller.services.report_writer import ReportWriter
from pa_controller.settings import of as settings_of
from pa_protocol import DeliveryState, RunState
from tests.conftest import PASSWORD
from tests.factories import broadcast_request, event, make_audio


def make_broadcast(**overrides):
    admin = db.session.scalar(select(User).where(User.username == "planner")) or create_user(
        "planner", PASSWORD, Role.ADMIN)
    broadcast, _ = broadcasts.create_broadcast(admin, broadcast_request(make_audio().id, **overrides))
    return broadcast


def schedule(seeded, **overrides) -> Run:
    """Create a broadcast and return its first run."""
    return make_broadcast(**overrides).runs[0]


def due(run: Run) -> Run:
    """Make a scheduled run due for dispatch now, as the scheduler would find it."""
    run.dispatch_at = clock.now()
    db.session.commit()
    return run


def test_a_run_is_dispatched_once_with_one_play_command_per_cluster(seeded):
    run = due(schedule(seeded, priority="emergency", targets={"all": True}))
    assert dispatch.dispatch_run(run.id) == 456
    assert dispatch.dispatch_run(run.id) == 0
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 456
    row = db.session.scalars(select(OutboxMessage)).first()
    command = protocol.decode(protocol.CMD, row.topic.split("/")[3], row.payload)
    assert command["type"] == "play" and command["priority"] == "emergency"
    assert command["audio"]["url"].endswith(f"/media/{command['audio']['sha256']}.mp3")
    assert db.session.get(Run, run.id).state is RunState.DISPATCHED


def test_now_is_dispatched_before_the_answer_once_the_audio_is_ready(seeded, monkeypatch):
    moment = clock.now()
    monkeypatch.setattr(clock, "now", lambda: moment)
    run = schedule(seeded, start_at="now", targets={"all": True})
    assert db.session.get(Run, run.id).state is RunState.DISPATCHED
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 456
    assert dispatch.dispatch_run(run.id) == 0
    assert run.start_at == run.dispatched_at + timedelta(seconds=planning.UNMEASURED_LEAD_S)


def test_an_emergency_sent_now_waits_for_an_unmeasured_fleet_no_longer_than_its_cap(seeded, monkeypatch):
    moment = clock.now()
    monkeypatch.setattr(clock, "now", lambda: moment)
    run = schedule(seeded, start_at="now", priority="emergency", targets={"all": True})
    assert run.start_at == run.dispatched_at + timedelta(seconds=planning.EMERGENCY_LEAD_S)
    assert planning.EMERGENCY_LEAD_S < planning.UNMEASURED_LEAD_S


def test_now_leaves_the_fleet_the_time_recent_runs_needed_to_be_ready(seeded, monkeypatch):
    earlier = schedule(seeded, start_at="now", targets={"all": True})
    for n, delivery in enumerate(db.session.scalars(select(Delivery).where(Delivery.run_id == earlier.id))):
        delivery.ready_at = earlier.dispatched_at + timedelta(seconds=10 if n % 20 == 0 else 1)  # a slow 5 %
    db.session.commit()
    moment = clock.now()
    monkeypatch.setattr(clock, "now", lambda: moment)
    run = make_broadcast(start_at="now", title="Khẩn").runs[0]
    assert run.start_at == moment + timedelta(seconds=1.5 * 10 + 1)
    assert planning.fetch_history(moment) == (10, 456 * earlier.broadcast.duration_ms / 1000)
    for delivery in db.session.scalars(select(Delivery)):
        delivery.ready_at = delivery.run.dispatched_at + timedelta(seconds=0.5)  # a quick fleet
    db.session.commit()
    assert planning.now_lead(moment) == timedelta(seconds=settings_of(seeded).now_lead_s)


def test_now_leaves_more_time_for_a_programme_larger_than_any_the_fleet_was_measured_on(seeded, monkeypatch):
    earlier = schedule(seeded, start_at="now", targets={"wards": ["thoi-hoa"]})
    for delivery in db.session.scalars(select(Delivery).where(Delivery.run_id == earlier.id)):
        delivery.ready_at = earlier.dispatched_at + timedelta(seconds=2)
    db.session.commit()
    moment = clock.now()
    measured = len(earlier.deliveries) * earlier.broadcast.duration_ms / 1000
    assert planning.now_lead(moment, measured) == timedelta(seconds=1.5 * 2 + 1)
    assert planning.now_lead(moment, 4 * measured) == timedelta(seconds=1.5 * 2 * 4 + 1)
    assert planning.now_lead(moment, 100 * measured) == timedelta(seconds=settings_of(seeded).dispatch_lead_s)


def test_a_normal_run_found_after_its_start_is_missed_not_played_late(seeded):
    run = schedule(seeded)
    run.start_at = run.dispatch_at = clock.now() - timedelta(seconds=30)
    db.session.commit()
    assert dispatch.dispatch_run(run.id) == 0
    assert db.session.get(Run, run.id).state is RunState.MISSED
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 0


def test_events_advance_a_delivery_and_never_move_it_back(seeded):
    run = schedule(seeded, start_at="now")
    delivery = db.session.scalars(select(Delivery).where(Delivery.run_id == run.id)).first()
    inbox = Inbox("pa/v1", ReportWriter(seeded, ingest.APPLY_IN_ORDER))
    topic = protocol.topic("pa/v1", delivery.cluster_id, protocol.EVENTS)
    for state in ("received", "ready", "playing", "done", "received", "failed"):
        inbox.receive(topic, event(delivery.cluster_id, delivery.cmd_id, state, str(run.id)))
    inbox.flush([inbox._queue.get_nowait() for _ in range(inbox._queue.qsize())])
    db.session.expire_all()
    assert db.session.get(Delivery, (run.id, delivery.cluster_id)).state is DeliveryState.DONE


def test_the_controller_notes_when_it_first_heard_a_cluster_had_the_audio(seeded):
    run = schedule(seeded, start_at="now", targets={"clusters": ["om-tho-001", "om-tho-002"]})
    first, second = db.session.scalars(select(Delivery).where(Delivery.run_id == run.id).order_by(Delivery.cluster_id))
    heard = clock.now() + timedelta(seconds=4)
    ingest.apply_events([(first.cluster_id, json.loads(event(first.cluster_id, first.cmd_id, "ready", str(run.id)))),
                         (second.cluster_id, json.loads(event(second.cluster_id, second.cmd_id, "playing")))], heard)
    ingest.apply_events([(first.cluster_id, json.loads(event(first.cluster_id, first.cmd_id, "done")))],
                        heard + timedelta(seconds=9))
    db.session.commit()
    assert first.ready_at == second.ready_at == heard, "the first report with the audio in hand, on our clock"


def test_a_malformed_report_changes_nothing_and_is_counted_against_the_cluster_of_its_topic(seeded):
    from pa_controller.models import ClusterState
    from pa_controller.services import refusals

    inbox = Inbox("pa/v1", ReportWriter(seeded, ingest.APPLY_IN_ORDER))
    inbox.receive("pa/v1/clusters/om-tho-001/events", b"{not json")
    inbox.receive("pa/v1/clusters/om-tho-001/status", json.dumps({"v": 1, "cid": "om-tho-002"}).encode())
    inbox.receive("pa/v1/clusters/../status", b"{}")
    assert inbox.rejected == {"malformed": 2, "wrong_cluster": 1}
    inbox.flush([inbox._queue.get_nowait() for _ in range(3)])  # the one without a cluster's topic is queued too
    assert inbox._queue.empty()
    assert refusals.by_kind("om-tho-001")["report"] == {"malformed": 1, "wrong_cluster": 1}
    assert refusals.by_kind("om-tho-002") == {"forged_command": {}, "report": {}}, "never the payload's cid"
    assert refusals.of_district()["report"] == {"malformed": 1, "wrong_cluster": 1, "bad_topic": 1}
    assert {s.status.value for s in db.session.scalars(select(ClusterState))} == {"unknown"}


def test_a_will_from_an_older_boot_does_not_mark_the_cluster_offline(seeded):
    inbox = Inbox("pa/v1", ReportWriter(seeded, ingest.APPLY_IN_ORDER))
    topic = protocol.topic("pa/v1", "om-tho-001", protocol.STATUS)
    at = protocol.format_time(clock.now())
    for online, boot in ((True, "new-boot"), (False, "old-boot")):
        payload = {"v": 1, "cid": "om-tho-001", "online": online, "boot_id": boot, "at": at}
        inbox.receive(topic, json.dumps(payload).encode())
    inbox.flush([inbox._queue.get_nowait() for _ in range(2)])
    from pa_controller.models import ClusterState

    state = db.session.get(ClusterState, "om-tho-001")
    db.session.refresh(state)
    assert state.online is True and state.boot_id == "new-boot"


def test_a_closed_run_marks_silent_clusters_missed(seeded):
    run = schedule(seeded, start_at="now")
    db.session.get(Run, run.id).closes_at = clock.now() - timedelta(seconds=1)
    db.session.commit()
    assert dispatch.close_runs() == 1
    states = set(db.session.scalars(select(Delivery.state).where(Delivery.run_id == run.id)))
    assert states == {DeliveryState.MISSED}
    assert db.session.get(Run, run.id).state is RunState.FINISHED


def test_a_run_every_cluster_finished_ends_before_its_window_closes(seeded):
    run = schedule(seeded, start_at="now", targets={"clusters": ["om-tho-001", "om-tho-002"]})
    assert dispatch.close_runs() == 0
    for delivery in db.session.scalars(select(Delivery).where(Delivery.run_id == run.id)):
        delivery.state = DeliveryState.DONE
    db.session.commit()
    assert dispatch.close_runs() == 1
    assert db.session.get(Run, run.id).state is RunState.FINISHED


def test_a_one_off_beyond_the_planning_horizon_is_planned_when_its_time_comes_near(seeded, monkeypatch):
    far = clock.now() + timedelta(days=3)
    run_count = select(func.count()).select_from(Run)
    make_broadcast(start_at=protocol.format_time(far))
    assert db.session.scalar(run_count) == 0
    monkeypatch.setattr(clock, "now", lambda: far - timedelta(hours=20))
    assert planning.extend_plans() == 1
    assert db.session.scalar(run_count) == 1
    assert planning.extend_plans() == 0


def test_now_with_a_rule_sends_only_the_first_run_at_once(seeded):
    run = schedule(seeded, start_at="now", rrule="FREQ=DAILY;BYHOUR=5,17;BYMINUTE=0")
    runs = sorted(run.broadcast.runs, key=lambda r: r.start_at)
    assert runs[0].dispatch_at <= clock.now()
    assert all(r.dispatch_at > clock.now() + timedelta(minutes=5) for r in runs[1:] if r.start_at > runs[1].start_at)


def test_a_run_of_a_cancelled_broadcast_is_never_dispatched(seeded):
    run = due(schedule(seeded))
    run.broadcast.cancelled_at = clock.now()
    db.session.commit()
    assert dispatch.dispatch_run(run.id) == 0
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 0


def test_a_dispatch_job_left_from_before_an_edit_does_not_send_the_replanned_run_early(seeded):
    run = schedule(seeded)  # due in an hour, dispatched a minute before
    assert dispatch.dispatch_run(run.id) == 0, "fired an hour early: a stale job, not this run's"
    assert db.session.get(Run, run.id).state is RunState.SCHEDULED
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 0


def test_a_run_whose_clusters_were_all_retired_is_missed_once_with_the_reason(seeded):
    run = due(schedule(seeded))
    db.session.execute(update(Cluster).where(Cluster.ward_id == "thoi-hoa").values(retired=True))
    db.session.commit()
    assert dispatch.dispatch_run(run.id) == 0
    run = db.session.get(Run, run.id)
    assert run.state is RunState.MISSED and "no cluster in service" in run.reason
    assert dispatch.dispatch_run(run.id) == 0
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 0


def test_a_cluster_back_with_a_new_boot_has_lost_what_it_held_until_it_says_otherwise(seeded):
    clusters = ["om-tho-001", "om-tho-002", "om-tho-003", "om-tho-004"]
    run = schedule(seeded, start_at="now", targets={"clusters": clusters})
    deliveries = {d.cluster_id: d for d in db.session.scalars(select(Delivery).where(Delivery.run_id == run.id))}
    inbox = Inbox("pa/v1", ReportWriter(seeded, ingest.APPLY_IN_ORDER))

    def report(cid: str, kind: str, raw: bytes) -> None:
        inbox.receive(protocol.topic("pa/v1", cid, kind), raw)
        inbox.flush([inbox._queue.get_nowait() for _ in range(inbox._queue.qsize())])

    def birth(cid: str, boot: str) -> bytes:
        return json.dumps({"v": 1, "cid": cid, "online": True, "boot_id": boot,
                           "at": protocol.format_time(clock.now())}).encode()

    for cid, state in zip(clusters, ("received", "ready", "playing"), strict=False):  # om-tho-004 hears nothing
        report(cid, protocol.STATUS, birth(cid, "boot-1"))
        report(cid, protocol.EVENTS, event(cid, deliveries[cid].cmd_id, state, str(run.id)))
    report("om-tho-001", protocol.STATUS, birth("om-tho-001", "boot-1"))  # a reconnect, same boot: nothing lost
    for cid in clusters:
        report(cid, protocol.STATUS, birth(cid, "boot-2"))  # a power cut: back with a new boot
    db.session.expire_all()
    states = {d.cluster_id: (d.state, (d.detail or {}).get("reason")) for d in
              db.session.scalars(select(Delivery).where(Delivery.run_id == run.id))}
    lost = (DeliveryState.FAILED, "rebooted")
    assert states == {"om-tho-001": lost, "om-tho-002": lost, "om-tho-003": lost,
                      "om-tho-004": (DeliveryState.PENDING, None)}
    # What the cluster says itself still counts: a `done` sent before the cut and delivered after it wins;
    # an older `playing` does not bring back a run the reboot lost.
    report("om-tho-003", protocol.EVENTS, event("om-tho-003", deliveries["om-tho-003"].cmd_id, "done", str(run.id)))
    report("om-tho-002", protocol.EVENTS, event("om-tho-002", deliveries["om-tho-002"].cmd_id, "playing",
                                                str(run.id)))
    db.session.expire_all()
    done = db.session.get(Delivery, (run.id, "om-tho-003"))
    assert done.state is DeliveryState.DONE and "inferred" not in (done.detail or {})
    assert db.session.get(Delivery, (run.id, "om-tho-002")).state is DeliveryState.FAILED
