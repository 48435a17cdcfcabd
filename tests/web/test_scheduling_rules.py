"""Through the API: conflicts (409), preemption across priorities, ward guardrails and their override."""

import functools
import json
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from unittest import mock

import pytest
from sqlalchemy import select, update

from pa_controller import clock, settings
from pa_controller.clock import LOCAL_ZONE
from pa_controller.extensions import db
from pa_controller.models import Broadcast, Cluster, Delivery, Run
from pa_controller.services import dispatch, ingest
from tests.factories import broadcast_request, event, make_audio
from tests.support.signing_in import log_in


@contextmanager
def frozen_at(local: str):
    """Set the controller's clock to a local time, as if the test ran then."""
    with mock.patch("pa_controller.clock.now", return_value=clock.parse_local(local)):
        yield


@functools.cache
def next_monday() -> date:
    """Fixed for the whole session: parameters are built at collection, fixtures later, maybe past midnight."""
    today = clock.now().astimezone(LOCAL_ZONE).date() + timedelta(days=7)
    return today + timedelta(days=(7 - today.weekday()) % 7)


def at(hour: int, minute: int = 0, day_offset: int = 0) -> str:
    """A local time on a Monday at least a week ahead (so quiet-hour checks do not depend on today)."""
    day = next_monday() + timedelta(days=day_offset)
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=LOCAL_ZONE).isoformat()


@pytest.fixture
def clip(seeded):
    return make_audio(duration_ms=120_000)  # two minutes


def post(client, auth, clip, **fields):
    return client.post("/api/v1/broadcasts", headers=auth, json=broadcast_request(clip.id, **fields))


def test_two_normal_runs_overlapping_on_a_cluster_are_a_409_that_names_them(client, officer_auth, clip):
    first = post(client, officer_auth, clip, start_at=at(8), title="Lịch tiêm chủng")
    assert first.status_code == 201, first.get_json()
    clash = post(client, officer_auth, clip, start_at=at(8, 1), targets={"clusters": ["om-tho-003"]})
    assert clash.status_code == 409
    error = clash.get_json()["error"]
    assert error["code"] == "conflict"
    [conflict] = error["conflicts"]
    assert conflict["broadcast_id"] == first.get_json()["id"] and conflict["title"] == "Lịch tiêm chủng"
    assert conflict["clusters"] == ["om-tho-003"] and conflict["cluster_count"] == 1
    assert clock.parse_local(conflict["start_at"]) == clock.parse_local(at(8))
    assert clock.parse_local(conflict["proposed_start_at"]) == clock.parse_local(at(8, 1))
    assert db.session.scalar(select(Broadcast).where(Broadcast.start_at == clock.parse_local(at(8, 1)))) is None


def test_the_form_can_show_a_conflict_before_submitting(client, officer_auth, clip):
    post(client, officer_auth, clip, start_at=at(8))
    answer = client.post("/api/v1/broadcasts?dry_run=true", headers=officer_auth,
                         json=broadcast_request(clip.id, start_at=at(7, 59), rrule="FREQ=DAILY"))
    assert answer.status_code == 200
    found = answer.get_json()
    assert len(found["next_runs"]) == 5 and len(found["conflicts"]) == 1 and found["violations"] == []
    assert len(db.session.scalars(select(Broadcast)).all()) == 1, "a dry run saves nothing"


def test_back_to_back_runs_and_other_clusters_do_not_conflict(client, admin_auth, clip):
    assert post(client, admin_auth, clip, start_at=at(8)).status_code == 201
    assert post(client, admin_auth, clip, start_at=at(8, 2)).status_code == 201  # starts as the first ends
    assert post(client, admin_auth, clip, start_at=at(8, 1), targets={"clusters": ["om-tan-001"]}).status_code == 201


def test_a_higher_priority_preempts_instead_of_conflicting_and_the_preempted_are_reported(client, admin_auth, clip):
    soon = clock.now() + timedelta(hours=2)  # within the planning horizon, so its run exists
    normal = post(client, admin_auth, clip, start_at=soon.isoformat())
    later = (soon + timedelta(minutes=1)).isoformat()
    urgent = post(client, admin_auth, clip, start_at=later, priority="priority")
    emergency = post(client, admin_auth, clip, start_at=later, priority="emergency")
    assert (normal.status_code, urgent.status_code, emergency.status_code) == (201, 201, 201)

    run = db.session.scalars(select(Run).where(Run.broadcast_id == normal.get_json()["id"])).one()
    run.start_at, run.dispatch_at = clock.now(), clock.now()  # bring it to now to dispatch it
    db.session.commit()
    dispatch.dispatch_run(run.id)
    delivery = db.session.scalars(select(Delivery).where(Delivery.run_id == run.id)).first()
    payload = json.loads(event(delivery.cluster_id, delivery.cmd_id, "preempted", str(run.id), by="9"))
    ingest.apply_events([(delivery.cluster_id, payload)], clock.now())
    db.session.commit()
    report = client.get(f"/api/v1/runs/{run.id}", headers=admin_auth).get_json()
    assert report["counts"]["preempted"] == 1
    assert {c["state"] for c in report["clusters"] if c["id"] == delivery.cluster_id} == {"preempted"}


@pytest.fixture
def urban_rules(client, admin_auth):
    """Hanoi's rule for urban wards: 2 sessions of 15 minutes, Monday to Friday, quiet 21:30–05:00."""
    rules = {"quiet_hours": {"start": "21:30", "end": "05:00"}, "max_sessions_per_day": 2,
             "max_session_minutes": 15, "weekdays": [1, 2, 3, 4, 5], "blackout_dates": [at(0)[:10]]}
    answer = client.put("/api/v1/wards/thoi-hoa/rules", headers=admin_auth, json=rules)
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


@pytest.mark.parametrize(("fields", "rule"), [
    ({"start_at": at(22, day_offset=1)}, "quiet_hours"),
    ({"start_at": at(4, 50, day_offset=1)}, "quiet_hours"),  # ends after 05:00 but starts inside
    ({"start_at": at(8, day_offset=5)}, "weekday"),  # a Saturday
    ({"start_at": at(8)}, "blackout_date"),
    ({"start_at": at(8, day_offset=1), "kind": "relay", "stream_url": "http://vov.example/live",
      "duration_s": 20 * 60}, "session_length"),
])
def test_a_broadcast_against_the_ward_rules_is_refused_with_its_reason(client, officer_auth, clip, urban_rules,
                                                                       fields, rule):
    answer = post(client, officer_auth, clip, **fields)
    assert answer.status_code == 422, answer.get_json()
    error = answer.get_json()["error"]
    assert error["code"] == "guardrail"
    assert [v["rule"] for v in error["violations"]] == [rule] and error["violations"][0]["ward"] == "thoi-hoa"
    assert db.session.scalars(select(Broadcast)).all() == []


def test_a_third_session_in_a_day_is_refused(client, officer_auth, clip, urban_rules):
    assert post(client, officer_auth, clip, start_at=at(7, day_offset=1)).status_code == 201
    assert post(client, officer_auth, clip, start_at=at(17, day_offset=1)).status_code == 201
    third = post(client, officer_auth, clip, start_at=at(11, day_offset=1))
    assert third.status_code == 422
    assert [v["rule"] for v in third.get_json()["error"]["violations"]] == ["sessions_per_day"]


def test_a_daily_rule_reports_each_broken_rule_once_with_how_many_runs_break_it(client, officer_auth, clip,
                                                                                urban_rules):
    answer = post(client, officer_auth, clip, start_at=at(22), rrule="FREQ=DAILY;COUNT=10")
    violations = {v["rule"]: v for v in answer.get_json()["error"]["violations"]}
    assert set(violations) == {"quiet_hours", "weekday", "blackout_date"}
    assert violations["quiet_hours"]["occurrences"] == 10 and violations["weekday"]["occurrences"] == 2


def test_only_an_administrator_overrides_and_the_reason_is_recorded(client, officer_auth, admin_auth, clip,
                                                                    urban_rules):
    late = {"start_at": at(22, day_offset=1), "override_reason": "Thông báo khẩn của UBND phường"}
    assert post(client, officer_auth, clip, **late).status_code == 403
    answer = post(client, admin_auth, clip, **late)
    assert answer.status_code == 201, answer.get_json()
    assert answer.get_json()["override_reason"] == "Thông báo khẩn của UBND phường"
    assert db.session.get(Broadcast, answer.get_json()["id"]).override_by is not None


def test_an_emergency_ignores_the_guardrails(client, officer_auth, clip, urban_rules):
    assert post(client, officer_auth, clip, start_at=at(23, day_offset=5), priority="emergency").status_code == 201


def test_only_an_administrator_sets_ward_rules_and_bad_rules_change_nothing(client, officer_auth, admin_auth):
    assert client.put("/api/v1/wards/thoi-hoa/rules", headers=officer_auth, json={}).status_code == 403
    for bad in ({"quiet_hours": {"start": "25:00", "end": "05:00"}}, {"max_sessions_per_day": 0},
                {"weekdays": [0]}, {"blackout_dates": ["2026-02-30"]}, {"quiet_hours": "night"}):
        answer = client.put("/api/v1/wards/thoi-hoa/rules", headers=admin_auth, json=bad)
        assert answer.status_code == 422, bad
    rules = client.get("/api/v1/wards/thoi-hoa/rules", headers=officer_auth).get_json()
    assert rules["quiet_hours"] is None and rules["max_sessions_per_day"] is None  # the test default: none
    assert client.get("/api/v1/wards/nowhere/rules", headers=admin_auth).status_code == 404


def test_a_run_whose_slot_was_cancelled_frees_it(client, officer_auth, clip):
    first = post(client, officer_auth, clip, start_at=(clock.now() + timedelta(hours=2)).isoformat())
    run = db.session.scalars(select(Run).where(Run.broadcast_id == first.get_json()["id"])).one()
    assert post(client, officer_auth, clip, start_at=run.start_at.isoformat()).status_code == 409
    assert client.delete(f"/api/v1/runs/{run.id}", headers=officer_auth).status_code == 200
    assert post(client, officer_auth, clip, start_at=run.start_at.isoformat()).status_code == 201


def test_a_broadcast_whose_own_runs_overlap_is_a_conflict(client, officer_auth, clip):
    answer = post(client, officer_auth, clip, start_at=at(8), rrule="FREQ=DAILY;BYHOUR=8;BYMINUTE=0,1")
    assert answer.status_code == 409 and answer.get_json()["error"]["conflicts"][0]["broadcast_id"] is None


def test_sessions_earlier_today_count_towards_the_daily_limit(client, admin_auth, officer_auth, clip):
    client.put("/api/v1/wards/thoi-hoa/rules", headers=admin_auth, json={"max_sessions_per_day": 1})
    with frozen_at(at(7, 55)):
        assert post(client, officer_auth, clip, start_at=at(8)).status_code == 201
    with frozen_at(at(8, 20)):  # the morning session has played; a second one that day is one too many
        later = post(client, officer_auth, clip, start_at=at(8, 30))
    assert later.status_code == 422
    assert [v["rule"] for v in later.get_json()["error"]["violations"]] == ["sessions_per_day"]


def test_an_officer_cannot_reach_another_ward_through_a_ward_with_no_cluster_in_service(client, officer_auth, clip):
    db.session.execute(update(Cluster).where(Cluster.ward_id == "thoi-an").values(retired=True))
    db.session.commit()
    answer = post(client, officer_auth, clip, targets={"wards": ["thoi-hoa", "thoi-an"]})
    assert answer.status_code == 403
    assert db.session.scalars(select(Broadcast)).all() == []


def test_one_broadcast_sounds_at_0530_and_1700_every_day(client, officer_auth, clip):
    answer = post(client, officer_auth, clip, start_at=at(0), rrule="FREQ=DAILY", times=["05:30", "17:00"])
    assert answer.status_code == 201, answer.get_json()
    found = answer.get_json()
    assert found["times"] == ["05:30", "17:00"]
    walls = [clock.parse_local(t).astimezone(LOCAL_ZONE).strftime("%H:%M") for t in found["next_runs"]]
    assert walls == ["05:30", "17:00", "05:30", "17:00", "05:30"]
    edited = client.patch(f"/api/v1/broadcasts/{found['id']}", headers=officer_auth, json={"times": ["06:00"]})
    assert edited.status_code == 200, edited.get_json()
    assert {clock.parse_local(t).astimezone(LOCAL_ZONE).strftime("%H:%M") for t in edited.get_json()["next_runs"]} \
        == {"06:00"}


def test_times_of_day_that_are_not_times_are_a_422_on_the_field(client, officer_auth, clip):
    answer = post(client, officer_auth, clip, start_at=at(0), rrule="FREQ=DAILY", times=["5h30", "chiều"])
    assert answer.status_code == 422
    assert "times" in answer.get_json()["error"]["fields"]


def test_a_series_with_an_end_is_checked_to_its_last_run(client, officer_auth, clip):
    """A one-off months ahead, then a daily series ending after it: the clash on its 200th day is found."""
    assert post(client, officer_auth, clip, start_at=at(8, day_offset=200)).status_code == 201
    series = post(client, officer_auth, clip, start_at=at(8, 1), rrule="FREQ=DAILY", until=at(9, day_offset=300))
    assert series.status_code == 409, series.get_json()
    [conflict] = series.get_json()["error"]["conflicts"]
    assert clock.parse_local(conflict["proposed_start_at"]) == clock.parse_local(at(8, 1, day_offset=200))
    ends = post(client, officer_auth, clip, start_at=at(8, 1), rrule="FREQ=DAILY", until=at(9, day_offset=199))
    assert ends.status_code == 201 and ends.get_json()["checked_until"] is None



def test_a_series_that_goes_on_says_where_its_check_stopped_in_the_answer_and_on_the_form(client, officer_auth,
                                                                                            clip):
    horizon = timedelta(days=settings.current().check_horizon_d)
    answer = post(client, officer_auth, clip, start_at=at(8), rrule="FREQ=WEEKLY")
    assert answer.status_code == 201
    assert clock.parse_local(answer.get_json()["checked_until"]) == clock.parse_local(at(8)) + horizon
    log_in(client, "officer-thoi-hoa")
    start = clock.parse_local(at(9)).astimezone(LOCAL_ZONE)
    page = client.post("/broadcasts/new", data={"title": "Họp tổ", "audio_id": str(clip.id), "wards": "thoi-hoa",
                                                "start_at": start.strftime("%d/%m/%Y %H:%M"), "repeat": "daily",
                                                "action": "check"}).get_data(as_text=True)
    stopped = (start + horizon).strftime("%d/%m/%Y")
    assert f"Đã kiểm tra trùng giờ và quy định phát của các lượt đến {stopped}" in page
