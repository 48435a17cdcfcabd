"""Nhân bản: a broadcast copied into the new-broadcast form, saved as a broadcast of its own."""

import re
from datetime import datetime, timedelta

from sqlalchemy import select

import pa_protocol as protocol
from pa_controller import clock
from pa_controller.extensions import db
from pa_controller.models import AuditEntry, Broadcast, Run
from pa_controller.services.broadcasts import COPY_LEAD, copy_start
from pa_protocol import Priority, RunState
from tests.factories import bearer, broadcast_request, make_audio, make_broadcast
from tests.web.test_pages import log_in


def field(page: str, name: str) -> str:
    return re.search(rf'<input[^>]*name="{name}"[^>]*value="([^"]*)"', page).group(1)


def schedule(client, auth, **overrides) -> int:
    start = protocol.format_time(clock.now() + timedelta(hours=3))
    answer = client.post("/api/v1/broadcasts", headers=auth, json=broadcast_request(
        make_audio().id, start_at=start, rrule="FREQ=DAILY", priority="priority", **overrides))
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()["id"]


def test_the_form_comes_filled_from_the_original(client, officer_auth):
    source = db.session.get(Broadcast, schedule(client, officer_auth))
    log_in(client, "officer-thoi-hoa")
    page = client.get(f"/broadcasts/{source.id}/duplicate").get_data(as_text=True)
    assert field(page, "title") == "Thông báo lịch cắt điện (bản sao)"
    assert f'<option value="{source.audio_id}" selected lang="vi">' in page
    assert '<option value="priority" selected>' in page
    assert re.search(r'value="thoi-hoa" checked', page) and '<option value="daily" selected>' in page
    assert field(page, "start_at") == source.start_at.astimezone(clock.LOCAL_ZONE).strftime("%d/%m/%Y %H:%M")


def test_a_copy_is_a_new_broadcast_that_lives_apart_from_the_original(client, officer_auth):
    source_id = schedule(client, officer_auth)
    source = db.session.get(Broadcast, source_id)
    log_in(client, "officer-thoi-hoa")
    form = {"title": "Thông báo lịch cắt điện (bản sao)", "audio_id": source.audio_id, "priority": "priority",
            "wards": ["thoi-hoa"], "repeat": "daily", "action": "save",
            "start_at": (source.start_at + timedelta(minutes=30)).astimezone(clock.LOCAL_ZONE).strftime(
                "%d/%m/%Y %H:%M")}
    saved = client.post(f"/broadcasts/{source_id}/duplicate", data=form)
    assert saved.status_code == 302, saved.get_data(as_text=True)
    copy = db.session.scalars(select(Broadcast).where(Broadcast.id != source_id)).one()
    assert saved.headers["Location"].endswith(f"/broadcasts/{copy.id}")
    assert (copy.title, copy.audio_id, copy.priority, copy.targets, copy.rrule) == (
        "Thông báo lịch cắt điện (bản sao)", source.audio_id, Priority.PRIORITY, source.targets, "FREQ=DAILY")
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "broadcast.duplicate")).one()
    assert entry.target == f"broadcast:{copy.id}" and entry.detail["source"] == f"broadcast:{source_id}"
    assert client.post(f"/broadcasts/{copy.id}/cancel").status_code == 302
    db.session.expire_all()
    assert db.session.get(Broadcast, source_id).cancelled_at is None
    states = set(db.session.scalars(select(Run.state).where(Run.broadcast_id == source_id)))
    assert states == {RunState.SCHEDULED}, "cancelling the copy leaves the original's runs alone"


def test_a_copy_of_a_past_broadcast_is_scheduled_ahead(client, officer_auth):
    past = clock.now() - timedelta(days=3)
    source = make_broadcast(past, runs=[(past, RunState.FINISHED)], audio_id=make_audio().id)
    log_in(client, "officer-thoi-hoa")
    page = client.get(f"/broadcasts/{source.id}/duplicate").get_data(as_text=True)
    start = datetime.strptime(field(page, "start_at"), "%d/%m/%Y %H:%M").replace(tzinfo=clock.LOCAL_ZONE)
    assert clock.now() < start <= clock.now() + timedelta(days=1, minutes=11)
    assert start.strftime("%H:%M") == past.astimezone(clock.LOCAL_ZONE).strftime("%H:%M"), "same time of day"


def test_a_copy_of_a_series_starts_at_its_next_occurrence(seeded):
    now = datetime(2027, 3, 3, 9, 0, tzinfo=clock.LOCAL_ZONE)  # a Wednesday
    mondays = make_broadcast(datetime(2027, 1, 4, 5, 30, tzinfo=clock.LOCAL_ZONE), rrule="FREQ=WEEKLY;BYDAY=MO")
    assert copy_start(mondays, now) == datetime(2027, 3, 8, 5, 30, tzinfo=clock.LOCAL_ZONE)
    ahead = make_broadcast(now + COPY_LEAD + timedelta(hours=1))
    assert copy_start(ahead, now) == ahead.start_at, "a start still ahead is kept"


def test_another_ward_s_broadcast_cannot_be_copied(client, officer_auth, admin):
    theirs = schedule(client, bearer(admin), targets={"wards": ["long-hung"]})
    log_in(client, "officer-thoi-hoa")
    assert client.get(f"/broadcasts/{theirs}/duplicate").status_code == 404
    refused = client.post(f"/broadcasts/{theirs}/duplicate", data={
        "title": "x", "audio_id": make_audio(sha256="f" * 64).id, "wards": ["thoi-hoa"], "action": "save",
        "start_at": (clock.now() + timedelta(hours=5)).astimezone(clock.LOCAL_ZONE).strftime("%d/%m/%Y %H:%M")})
    assert refused.status_code == 404
    assert db.session.scalars(select(Broadcast.id)).all() == [theirs], "nothing was created"
