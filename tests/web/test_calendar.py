"""A ward's programme as an iCalendar feed, and missed runs on the dashboard and in the API."""

import re
from datetime import timedelta

from sqlalchemy import select

import pa_protocol as protocol
from pa_controller import clock
from pa_controller.extensions import db
from pa_controller.models import Run, User
from pa_controller.web.calendar import feed_key
from pa_controller.web.ics import escape, fold
from pa_protocol import RunState
from tests.factories import broadcast_request, make_audio
from tests.web.test_pages import log_in


def schedule_daily(client, auth, title="Bản tin sáng; phường Thới Hòa, 05:30") -> int:
    start = clock.now() + timedelta(hours=2)
    answer = client.post("/api/v1/broadcasts", headers=auth, json=broadcast_request(
        make_audio().id, title=title, start_at=protocol.format_time(start), rrule="FREQ=DAILY"))
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()["id"]


def events(body: str) -> list[dict]:
    unfolded = body.replace("\r\n ", "")
    return [dict(line.split(":", 1) for line in block.strip().split("\r\n"))
            for block in re.findall(r"BEGIN:VEVENT\r\n(.*?)END:VEVENT", unfolded, re.S)]


def test_the_ward_feed_lists_a_month_of_runs_in_valid_icalendar(client, officer_auth):
    broadcast_id = schedule_daily(client, officer_auth)
    answer = client.get("/calendar/thoi-hoa.ics", headers=officer_auth)
    assert answer.status_code == 200 and answer.mimetype == "text/calendar"
    body = answer.get_data(as_text=True)
    assert body.startswith("BEGIN:VCALENDAR\r\n") and body.endswith("END:VCALENDAR\r\n")
    assert all(len(line.encode()) <= 75 for line in body.split("\r\n"))
    found = events(body)
    assert 30 <= len(found) <= 32 and len({e["UID"] for e in found}) == len(found)
    first = db.session.scalars(select(Run).where(Run.broadcast_id == broadcast_id).order_by(Run.start_at)).first()
    assert found[0]["DTSTART"] == first.start_at.strftime("%Y%m%dT%H%M%SZ")
    assert found[0]["SUMMARY"] == escape("Bản tin sáng; phường Thới Hòa, 05:30")


def test_a_cancelled_run_leaves_the_feed(client, officer_auth):
    broadcast_id = schedule_daily(client, officer_auth)
    first = db.session.scalars(select(Run).where(Run.broadcast_id == broadcast_id).order_by(Run.start_at)).first()
    before = events(client.get("/calendar/thoi-hoa.ics", headers=officer_auth).get_data(as_text=True))
    client.delete(f"/api/v1/runs/{first.id}", headers=officer_auth)
    after = events(client.get("/calendar/thoi-hoa.ics", headers=officer_auth).get_data(as_text=True))
    assert len(after) == len(before) - 1 and after[0]["DTSTART"] != before[0]["DTSTART"]


def test_the_feed_key_opens_one_ward_for_one_user_and_nothing_else(client, officer_auth, seeded):
    schedule_daily(client, officer_auth)
    officer = db.session.scalars(select(User).where(User.username == "officer-thoi-hoa")).one()
    with seeded.test_request_context():
        key = feed_key(officer, "thoi-hoa")
        other_ward = feed_key(officer, "chau-van-liem")
    assert client.get(f"/calendar/thoi-hoa.ics?key={key}").status_code == 200
    assert client.get("/calendar/thoi-hoa.ics").status_code == 401
    assert client.get(f"/calendar/thoi-hoa.ics?key={key[:-2]}xx").status_code == 401
    assert client.get(f"/calendar/thoi-hoa.ics?key={other_ward}").status_code == 401
    assert client.get(f"/calendar/chau-van-liem.ics?key={other_ward}").status_code == 403  # not the officer's ward
    assert client.get("/calendar/chau-van-liem.ics", headers=officer_auth).status_code == 403
    assert client.get("/calendar/nowhere.ics", headers=officer_auth).status_code == 404


def test_folding_never_cuts_a_vietnamese_character():
    line = "SUMMARY:" + "Thông báo về việc tiêm chủng mở rộng tại phường Thới Hòa " * 3
    folded = fold(line)
    assert folded.replace("\r\n ", "") == line
    assert all(len(piece.encode()) <= 75 for piece in folded.split("\r\n"))


def test_missed_runs_are_listed_on_the_dashboard_and_in_the_api(client, officer_auth):
    broadcast_id = schedule_daily(client, officer_auth, title="Bản tin chiều")
    run = db.session.scalars(select(Run).where(Run.broadcast_id == broadcast_id)).first()
    run.state, run.reason = RunState.MISSED, "its window closed before the controller could dispatch it"
    db.session.commit()
    missed = client.get("/api/v1/runs?state=missed", headers=officer_auth).get_json()
    assert [r["id"] for r in missed] == [run.id] and missed[0]["reason"].startswith("its window closed")
    assert client.get("/api/v1/runs?state=lost", headers=officer_auth).status_code == 422
    log_in(client, "officer-thoi-hoa")
    page = client.get("/").get_data(as_text=True)
    assert "Lượt phát bị lỡ" in page and "đã hết giờ phát khi bộ điều khiển gửi được lệnh" in page
    assert "/calendar/thoi-hoa.ics?key=" in page
