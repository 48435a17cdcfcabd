"""A report counts only for the cluster of its topic and only about what the controller sent that cluster."""

import json
from datetime import timedelta

from sqlalchemy import select

from pa_controller import clock
from pa_controller.domain import Role
from pa_controller.extensions import db
from pa_controller.models import Delivery, FleetCommand, OutboxMessage, Run, User
from pa_controller.services import broadcasts, commands, dispatch, ingest, refusals, remote
from pa_controller.services.people import create_user
from pa_protocol import CommandType, DeliveryState
from tests.conftest import PASSWORD
from tests.factories import broadcast_request, event, make_audio


def dispatched_run(targets: dict) -> Run:
    admin = db.session.scalar(select(User).where(User.username == "planner")) or create_user(
        "planner", PASSWORD, Role.ADMIN)
    broadcast, _ = broadcasts.create_broadcast(admin, broadcast_request(make_audio().id, targets=targets))
    run = broadcast.runs[0]
    run.dispatch_at = clock.now()
    db.session.commit()
    dispatch.dispatch_run(run.id)
    return run


def delivery_of(run: Run, cid: str) -> Delivery:
    return db.session.scalar(select(Delivery).where(Delivery.run_id == run.id, Delivery.cluster_id == cid))


def report(*events: tuple[str, bytes]) -> int:
    applied = ingest.apply_events([(cid, json.loads(raw)) for cid, raw in events], clock.now())
    db.session.commit()
    db.session.expire_all()
    return applied


def test_a_report_about_a_command_never_sent_is_refused_counted_and_changes_nothing(seeded):
    run = dispatched_run({"clusters": ["om-tho-001"]})
    assert report(("om-tho-001", event("om-tho-001", "9d3e0f7a-0000-4000-8000-000000000000", "done",
                                       str(run.id)))) == 0
    assert delivery_of(run, "om-tho-001").state is DeliveryState.PENDING
    assert refusals.by_kind("om-tho-001")["report"] == {"unknown_command": 1}


def test_a_report_about_another_clusters_command_is_refused_and_that_delivery_is_unchanged(seeded):
    run = dispatched_run({"clusters": ["om-tho-001", "om-tho-002"]})
    theirs = delivery_of(run, "om-tho-002")
    assert report(("om-tho-001", event("om-tho-001", theirs.cmd_id, "failed", str(run.id), reason="fetch"))) == 0
    assert delivery_of(run, "om-tho-002").state is DeliveryState.PENDING
    assert refusals.by_kind("om-tho-001")["report"] == {"other_cluster": 1}
    assert refusals.by_kind("om-tho-002")["report"] == {}


def test_a_report_naming_a_run_that_is_not_its_commands_is_refused(seeded):
    run = dispatched_run({"clusters": ["om-tho-001"]})
    mine = delivery_of(run, "om-tho-001")
    assert report(("om-tho-001", event("om-tho-001", mine.cmd_id, "done", str(run.id + 1000)))) == 0
    assert delivery_of(run, "om-tho-001").state is DeliveryState.PENDING
    assert refusals.by_kind("om-tho-001")["report"] == {"wrong_run": 1}


def test_a_report_about_its_own_command_and_run_is_applied(seeded):
    run = dispatched_run({"clusters": ["om-tho-001"]})
    mine = delivery_of(run, "om-tho-001")
    assert report(("om-tho-001", event("om-tho-001", mine.cmd_id, "done", str(run.id)))) == 1
    assert delivery_of(run, "om-tho-001").state is DeliveryState.DONE
    assert refusals.by_kind("om-tho-001") == {"forged_command": {}, "report": {}}


def test_a_delivery_keeps_when_it_began_to_sound_even_if_its_end_was_heard_first(seeded):
    run = dispatched_run({"clusters": ["om-tho-001", "om-tho-002"]})
    first, second = delivery_of(run, "om-tho-001"), delivery_of(run, "om-tho-002")
    report(("om-tho-001", event("om-tho-001", first.cmd_id, "playing", str(run.id))))
    began = delivery_of(run, "om-tho-001").started_at
    report(("om-tho-001", event("om-tho-001", first.cmd_id, "done", str(run.id))))
    assert delivery_of(run, "om-tho-001").state is DeliveryState.DONE
    assert delivery_of(run, "om-tho-001").started_at == began is not None
    report(("om-tho-002", event("om-tho-002", second.cmd_id, "done", str(run.id))),
           ("om-tho-002", event("om-tho-002", second.cmd_id, "playing", str(run.id))))
    late = delivery_of(run, "om-tho-002")
    assert late.state is DeliveryState.DONE and late.started_at is not None


def test_a_rejection_of_a_command_never_sent_is_a_forged_command_counted_per_reason(seeded):
    for reason in ("bad_signature", "bad_signature", "unsigned", "something new"):
        report(("om-tho-001", event("om-tho-001", "9d3e0f7a-0000-4000-8000-00000000000a", "rejected", None,
                                    reason=reason)))
    assert refusals.by_kind("om-tho-001")["forged_command"] == {"bad_signature": 2, "unsigned": 1, "other": 1}


def test_a_rejection_of_a_command_sent_is_its_answer_only_if_nothing_else_is_heard(seeded):
    tech = create_user("tech", PASSWORD, Role.TECHNICIAN)
    [sent] = remote.send_request(tech, {"type": CommandType.REBOOT, "clusters": ["om-tho-001"]})
    report(("om-tho-001", event("om-tho-001", sent.cmd_id, "rejected", None, reason="bad_signature")))
    command = db.session.get(FleetCommand, sent.id)
    assert command.state is DeliveryState.PENDING and command.detail["rejected"]["reason"] == "bad_signature"
    assert remote.effective_state(command, clock.now()) is DeliveryState.PENDING  # it may still come
    assert remote.effective_state(command, clock.now() + remote.COMMAND_TTL * 2) is DeliveryState.REJECTED
    assert refusals.by_kind("om-tho-001")["forged_command"] == {}


def test_a_forged_copy_under_a_real_id_cannot_make_a_played_run_read_rejected(seeded):
    """An attacker on the cmd topic sends a broken copy of a real play: the cluster rejects it, naming the real
    id, and then plays the real one."""
    run = dispatched_run({"clusters": ["om-tho-001", "om-tho-002"]})
    played, silent = delivery_of(run, "om-tho-001"), delivery_of(run, "om-tho-002")
    for reason in ("unsigned", "malformed"):
        report(("om-tho-001", event("om-tho-001", played.cmd_id, "rejected", None, reason=reason)))
    report(("om-tho-002", event("om-tho-002", silent.cmd_id, "rejected", None, reason="bad_signature")))
    for state in ("received", "ready", "playing", "done"):
        report(("om-tho-001", event("om-tho-001", played.cmd_id, state, str(run.id))))
    assert delivery_of(run, "om-tho-001").state is DeliveryState.DONE
    db.session.get(Run, run.id).closes_at = clock.now() - timedelta(seconds=1)
    db.session.commit()
    dispatch.close_runs()
    assert delivery_of(run, "om-tho-001").state is DeliveryState.DONE
    assert delivery_of(run, "om-tho-002").state is DeliveryState.REJECTED  # nothing but the rejection was heard


def test_a_rejection_whose_reason_is_not_a_word_is_counted_as_other_without_breaking_the_batch(seeded):
    run = dispatched_run({"clusters": ["om-tho-001"]})
    mine = delivery_of(run, "om-tho-001")
    batch = [("om-tho-001", json.loads(event("om-tho-001", "9d3e0f7a-0000-4000-8000-00000000000c", "rejected",
                                             None, reason=["bad_signature"]))),
             ("om-tho-001", json.loads(event("om-tho-001", mine.cmd_id, "done", str(run.id))))]
    assert ingest.apply_events(batch, clock.now()) == 1
    db.session.commit()
    assert refusals.by_kind("om-tho-001")["forged_command"] == {"other": 1}


def test_a_rejection_of_a_replayed_copy_of_a_finished_command_is_a_forged_command(seeded):
    run = dispatched_run({"clusters": ["om-tho-001"]})
    mine = delivery_of(run, "om-tho-001")
    report(("om-tho-001", event("om-tho-001", mine.cmd_id, "done", str(run.id))))
    report(("om-tho-001", event("om-tho-001", mine.cmd_id, "rejected", str(run.id), reason="replay")))
    assert delivery_of(run, "om-tho-001").state is DeliveryState.DONE
    assert refusals.by_kind("om-tho-001")["forged_command"] == {"replay": 1}


def test_the_answer_to_a_cancel_the_controller_sent_is_no_refusal(seeded):
    run = dispatched_run({"clusters": ["om-tho-001"]})
    commands.queue_cancel(db.session.get(Run, run.id), clock.now())
    db.session.commit()
    cancel = json.loads(sorted(row.payload for row in db.session.scalars(select(OutboxMessage))
                               if b'"cancel"' in row.payload)[0])
    assert report(("om-tho-001", event("om-tho-001", cancel["id"], "received", str(run.id)))) == 0
    assert refusals.by_kind("om-tho-001") == {"forged_command": {}, "report": {}}


def test_refusals_add_up_across_batches_with_first_and_latest_times(seeded):
    first = clock.now()
    for offset in (0, 60):
        ingest.apply_events([("om-tho-001", json.loads(event("om-tho-001", "9d3e0f7a-0000-4000-8000-00000000000b",
                                                             "done")))], first + timedelta(seconds=offset))
        db.session.commit()
    [row] = refusals.of_cluster("om-tho-001")
    assert (row.count, row.first_at, row.last_at) == (2, first, first + timedelta(seconds=60))


def test_a_report_from_a_cluster_the_registry_does_not_know_is_refused_without_breaking_the_batch(seeded):
    run = dispatched_run({"clusters": ["om-tho-001"]})
    mine = delivery_of(run, "om-tho-001")
    assert report(("om-zzz-999", event("om-zzz-999", "9d3e0f7a-0000-4000-8000-00000000000c", "done")),
                  ("om-tho-001", event("om-tho-001", mine.cmd_id, "ready", str(run.id)))) == 1
    assert delivery_of(run, "om-tho-001").state is DeliveryState.READY
