"""Editing changes future runs only; a single run can be cancelled; relays go out as `relay` commands."""

from datetime import timedelta

from sqlalchemy import select

import pa_protocol as protocol
from pa_controller import clock
from pa_controller.extensions import db
from pa_controller.models import Broadcast, OutboxMessage, Run
from pa_controller.services import dispatch
from pa_protocol import RunState
from tests.factories import broadcast_request, make_audio


def runs_of(broadcast_id: int) -> list[Run]:
    return list(db.session.scalars(select(Run).where(Run.broadcast_id == broadcast_id).order_by(Run.start_at)))


def daily(client, auth, **fields) -> dict:
    fields = {"start_at": protocol.format_time(clock.now() + timedelta(minutes=30)), "rrule": "FREQ=DAILY", **fields}
    answer = client.post("/api/v1/broadcasts", headers=auth, json=broadcast_request(make_audio().id, **fields))
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()


def test_editing_a_recurring_broadcast_replans_the_future_and_keeps_past_records(client, officer_auth):
    created = daily(client, officer_auth)
    first, *later = runs_of(created["id"])
    first.state = RunState.FINISHED  # it has played
    db.session.commit()
    later_starts = {r.start_at for r in later}
    assert later_starts
    new_start = clock.now() + timedelta(hours=1, minutes=15)
    answer = client.patch(f"/api/v1/broadcasts/{created['id']}", headers=officer_auth,
                          json={"title": "Lịch mới", "start_at": protocol.format_time(new_start)})
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["title"] == "Lịch mới" and len(answer.get_json()["next_runs"]) == 5
    after = runs_of(created["id"])
    assert after[0].id == first.id and after[0].state is RunState.FINISHED
    assert len(after) > 1 and {r.start_at for r in after[1:]}.isdisjoint(later_starts), "unsent runs were replanned"
    assert all(r.start_at.minute == new_start.minute for r in after[1:])
    assert db.session.get(Broadcast, created["id"]).rrule == "FREQ=DAILY"


def test_an_invalid_edit_changes_nothing(client, officer_auth):
    created = daily(client, officer_auth)
    before = [(r.id, r.start_at) for r in runs_of(created["id"])]
    for change in ({"rrule": "FREQ=HOURLY"}, {"targets": {"wards": ["chau-van-liem"]}}, {"title": ""}):
        answer = client.patch(f"/api/v1/broadcasts/{created['id']}", headers=officer_auth, json=change)
        assert answer.status_code in (403, 422), change
    db.session.expire_all()
    assert [(r.id, r.start_at) for r in runs_of(created["id"])] == before
    assert db.session.get(Broadcast, created["id"]).title == created["title"]


def test_one_run_can_be_cancelled_before_it_goes_out_and_not_twice(client, officer_auth, technician_auth):
    created = daily(client, officer_auth)
    run = runs_of(created["id"])[1]
    assert client.delete(f"/api/v1/runs/{run.id}", headers=technician_auth).status_code == 403
    answer = client.delete(f"/api/v1/runs/{run.id}", headers=officer_auth)
    assert answer.status_code == 200 and answer.get_json()["state"] == "cancelled"
    assert dispatch.dispatch_run(run.id) == 0
    assert client.delete(f"/api/v1/runs/{run.id}", headers=officer_auth).status_code == 409


def test_cancelling_a_dispatched_run_tells_its_clusters(client, officer_auth):
    created = daily(client, officer_auth, start_at="now", rrule=None)
    run = runs_of(created["id"])[0]
    assert run.state is RunState.DISPATCHED, "now is dispatched before the answer"
    assert client.delete(f"/api/v1/runs/{run.id}", headers=officer_auth).status_code == 200
    kinds = [protocol.decode(protocol.CMD, m.topic.split("/")[3], m.payload)["type"]
             for m in db.session.scalars(select(OutboxMessage))]
    assert kinds.count("play") == 58 and kinds.count("cancel") == 58


def test_a_relay_goes_out_as_a_relay_command_for_its_window(client, admin_auth):
    answer = client.post("/api/v1/broadcasts", headers=admin_auth, json={
        "title": "Tiếp sóng Đài Cần Thơ", "kind": "relay", "stream_url": "https://radio.example/cantho.mp3",
        "duration_s": 1800, "priority": "normal", "targets": {"wards": ["thoi-long"]}, "start_at": "now"})
    assert answer.status_code == 201, answer.get_json()
    assert answer.get_json()["duration_ms"] == 1_800_000 and answer.get_json()["audio_id"] is None
    assert runs_of(answer.get_json()["id"])[0].state is RunState.DISPATCHED
    assert len(db.session.scalars(select(OutboxMessage)).all()) == 62
    message = db.session.scalars(select(OutboxMessage)).first()
    command = protocol.decode(protocol.CMD, message.topic.split("/")[3], message.payload)
    assert command["type"] == "relay" and command["stream_url"] == "https://radio.example/cantho.mp3"
    assert protocol.parse_time(command["end_at"]) - protocol.parse_time(command["start_at"]) == timedelta(minutes=30)


def test_a_relay_found_late_is_still_joined_while_its_window_is_open(client, admin_auth):
    answer = client.post("/api/v1/broadcasts", headers=admin_auth, json={
        "title": "Tiếp sóng", "kind": "relay", "stream_url": "http://radio.example/live", "duration_s": 600,
        "targets": {"clusters": ["om-tlg-001"]}, "start_at": protocol.format_time(clock.now() + timedelta(hours=1))})
    run = runs_of(answer.get_json()["id"])[0]
    run.start_at = run.dispatch_at = clock.now() - timedelta(minutes=2)  # the controller was down over its start
    run.closes_at = run.start_at + timedelta(minutes=10, seconds=30)
    db.session.commit()
    assert dispatch.dispatch_run(run.id) == 1


def test_bad_relays_are_refused_clearly(client, admin_auth):
    base = {"title": "x", "kind": "relay", "targets": {"all": True}, "start_at": "now"}
    for fields, field in (({"stream_url": "file:///etc/passwd", "duration_s": 600}, "stream_url"),
                          ({"stream_url": "http://radio.example/live"}, "duration_s"),
                          ({"stream_url": "http://radio.example/live", "duration_s": 10}, "duration_s"),
                          ({"kind": "podcast"}, "kind")):
        answer = client.post("/api/v1/broadcasts", headers=admin_auth, json={**base, **fields})
        assert answer.status_code == 422 and field in answer.get_json()["error"]["fields"], fields
    assert db.session.scalars(select(Broadcast)).all() == []
