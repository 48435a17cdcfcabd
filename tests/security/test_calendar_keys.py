"""A calendar link is a key to one ward's feed: it expires, it can be revoked, and it follows its user's rights."""

from datetime import timedelta

import pytest
from itsdangerous import URLSafeSerializer

from pa_controller import clock
from pa_controller.domain import Role
from pa_controller.services import people
from pa_controller.web.calendar import KEY_LIFETIME, feed_key
from tests.factories import make_user
from tests.support.signing_in import log_in


@pytest.fixture
def officer(seeded):
    return make_user("canbo", Role.OFFICER, ("thoi-hoa",))


@pytest.fixture
def key(seeded, officer):
    with seeded.test_request_context():
        return feed_key(officer, "thoi-hoa")


def feed(client, key: str):
    return client.get(f"/calendar/thoi-hoa.ics?key={key}")


def test_a_calendar_link_works_for_a_year_and_then_says_to_get_a_new_one(client, key, monkeypatch):
    assert feed(client, key).status_code == 200
    later = clock.now() + KEY_LIFETIME + timedelta(minutes=1)
    monkeypatch.setattr(clock, "now", lambda: later)
    answer = feed(client, key)
    assert answer.status_code == 401 and "đã quá một năm" in answer.get_data(as_text=True)


def test_revoking_one_s_calendar_links_refuses_every_old_one_and_the_dashboard_shows_a_new_one(client, key):
    log_in(client, "canbo")
    assert client.post("/account/calendar/revoke").status_code == 302
    client.post("/logout")
    answer = feed(client, key)
    assert answer.status_code == 401 and "đã bị thu hồi" in answer.get_data(as_text=True)
    log_in(client, "canbo")
    page = client.get("/").get_data(as_text=True)
    fresh = page.split("/calendar/thoi-hoa.ics?key=")[1].split('"')[0]
    client.post("/logout")
    assert fresh != key and feed(client, fresh).status_code == 200


def test_a_link_stops_once_its_user_may_no_longer_see_the_ward(client, officer, key):
    people.assign(officer, Role.OFFICER, ["thoi-an"])
    assert feed(client, key).status_code == 403


def test_a_deactivated_user_s_link_is_refused(client, officer, key):
    people.set_active(officer, False)
    assert feed(client, key).status_code == 401


def test_a_link_made_before_keys_expired_is_refused(seeded, client, officer):
    """Keys of the release before 0015 carried no version or time and never expired."""
    with seeded.test_request_context():
        old = URLSafeSerializer(seeded.secret_key, salt="calendar-feed").dumps({"u": officer.id, "w": "thoi-hoa"})
    assert feed(client, old).status_code == 401
