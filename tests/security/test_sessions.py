"""Page sessions live on the server: logout, timeouts, a password change and an administrator end them for good."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from pa_controller import clock, create_app
from pa_controller.domain import Role
from pa_controller.extensions import db
from pa_controller.models import UserSession
from pa_controller.services import people
from tests.conftest import PASSWORD
from tests.factories import bearer, make_user
from tests.support.settings import use_settings
from tests.support.signing_in import log_in


def cookie(client) -> str:
    return client.get_cookie("session").value


def signed_in(client) -> bool:
    return client.get("/account").status_code == 200


@pytest.fixture
def officer(seeded):
    return make_user("canbo", Role.OFFICER, ("thoi-hoa",))


@pytest.fixture
def later(monkeypatch):
    """Move LoaNet's clock on by a timedelta."""
    start = clock.now()

    def move(by: timedelta) -> None:
        monkeypatch.setattr(clock, "now", lambda: start + by)

    monkeypatch.setattr(clock, "now", lambda: start)
    return move


def test_a_session_cookie_saved_before_logout_no_longer_works_after_it(seeded, officer):
    client = seeded.test_client()
    log_in(client, "canbo")
    saved = cookie(client)
    assert client.post("/logout").status_code == 302
    thief = seeded.test_client()
    thief.set_cookie("session", saved)
    answer = thief.get("/account")
    assert answer.status_code == 302 and "/login" in answer.headers["Location"]
    assert db.session.scalars(select(UserSession.end_reason)).all() == ["logout"]


def test_login_starts_a_fresh_session_and_a_cookie_planted_before_it_learns_nothing(seeded, officer):
    client = seeded.test_client()
    client.get("/login")
    planted = cookie(client)
    log_in(client, "canbo")
    assert cookie(client) != planted
    stranger = seeded.test_client()
    stranger.set_cookie("session", planted)
    assert not signed_in(stranger)


def test_a_session_ends_after_the_idle_timeout(seeded, officer, later):
    use_settings(seeded, session_idle_min=60)
    client = seeded.test_client()
    log_in(client, "canbo")
    later(timedelta(minutes=59))
    assert signed_in(client), "used within the hour: still open"
    later(timedelta(minutes=59 + 61))
    answer = client.get("/account")
    assert answer.status_code == 302
    page = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "sau 60 phút không dùng" in page
    later(timedelta(minutes=59 + 62))
    assert not signed_in(client), "an ended session stays ended"
    assert db.session.scalars(select(UserSession.end_reason)).all() == ["idle"]


def test_a_busy_session_still_ends_at_the_absolute_timeout(seeded, officer, later):
    use_settings(seeded, session_idle_min=60, session_max_h=12)
    client = seeded.test_client()
    log_in(client, "canbo")
    for minutes in range(30, 12 * 60, 30):  # a request every half hour
        later(timedelta(minutes=minutes))
        assert signed_in(client)
    later(timedelta(hours=12, minutes=1))
    assert not signed_in(client)
    assert db.session.scalars(select(UserSession.end_reason)).all() == ["expired"]


def test_changing_one_s_password_ends_every_other_session_of_theirs(seeded, officer):
    phone, desk = seeded.test_client(), seeded.test_client()
    log_in(phone, "canbo")
    log_in(desk, "canbo")
    answer = desk.post("/account/password", data={"current_password": PASSWORD, "new_password": "a whole new phrase",
                                                  "new_password_again": "a whole new phrase"})
    assert answer.status_code == 302
    assert signed_in(desk) and not signed_in(phone)
    assert log_in(seeded.test_client(), "canbo").status_code == 401
    assert log_in(seeded.test_client(), "canbo", "a whole new phrase").status_code == 302


def test_a_password_change_needs_the_current_password_and_a_long_new_one(seeded, officer):
    client = seeded.test_client()
    log_in(client, "canbo")
    for form, message in (
            ({"current_password": "wrong", "new_password": "a whole new phrase"}, "Mật khẩu hiện tại không đúng."),
            ({"current_password": PASSWORD, "new_password": "short"}, "Mật khẩu cần ít nhất 12 ký tự."),
            ({"current_password": PASSWORD, "new_password": "canbo"}, "Mật khẩu cần ít nhất 12 ký tự."),
            ({"current_password": PASSWORD, "new_password": PASSWORD}, "phải khác mật khẩu hiện tại")):
        answer = client.post("/account/password", data={**form, "new_password_again": form["new_password"]})
        assert answer.status_code == 422 and message in answer.get_data(as_text=True)
    assert log_in(seeded.test_client(), "canbo").status_code == 302, "the password is unchanged"


def test_an_administrator_deactivating_someone_ends_their_sessions(seeded, admin, officer):
    theirs, mine = seeded.test_client(), seeded.test_client()
    log_in(theirs, "canbo")
    log_in(mine, "admin")
    assert mine.post(f"/admin/users/{officer.id}/active", data={"active": "0"}).status_code == 302
    answer = theirs.get("/account")
    assert answer.status_code == 302
    assert "Tài khoản này đã bị khóa" in theirs.get(answer.headers["Location"]).get_data(as_text=True)
    assert log_in(seeded.test_client(), "canbo").status_code == 401


def test_an_administrator_setting_a_password_ends_that_person_s_sessions_tokens_and_calendar_links(
        seeded, admin, officer):
    theirs = seeded.test_client()
    log_in(theirs, "canbo")
    headers = bearer(officer)
    version = officer.calendar_key_version
    people.set_password(officer, "given by the admin")
    assert not signed_in(theirs)
    assert theirs.get("/api/v1/runs", headers=headers).status_code == 401
    assert officer.calendar_key_version == version + 1


def test_ending_one_s_other_sessions_keeps_this_one(seeded, officer):
    phone, desk = seeded.test_client(), seeded.test_client()
    log_in(phone, "canbo")
    log_in(desk, "canbo")
    desk.post("/account/sessions/end-others")
    assert signed_in(desk) and not signed_in(phone)


def test_after_a_timeout_login_returns_to_the_page_asked_for_and_never_off_site(seeded, officer):
    client = seeded.test_client()
    answer = client.get("/fleet/clusters?ward=thoi-hoa")
    assert answer.status_code == 302
    back = log_in(client, "canbo", query_string={"next": "/fleet/clusters?ward=thoi-hoa"})
    assert back.headers["Location"] == "/fleet/clusters?ward=thoi-hoa"
    client.post("/logout")
    for elsewhere in ("https://evil.example/", "//evil.example/", "/\\evil.example", "/\t/evil.example", "/x\n"):
        assert log_in(client, "canbo", query_string={"next": elsewhere}).headers["Location"] == "/"
        client.post("/logout")


@pytest.mark.parametrize("secure, name", [(True, "__Host-session"), (False, "session")])
def test_the_cookie_is_secure_behind_tls_and_always_httponly_and_samesite(make_settings, database_url, secure, name):
    app = create_app(make_settings(database_url, secure_cookies=secure))
    with app.app_context():
        people.create_user("canbo", PASSWORD, Role.TECHNICIAN)
        header = log_in(app.test_client(), "canbo").headers["Set-Cookie"]
        db.session.remove()
        db.engine.dispose()
    assert header.startswith(f"{name}=")
    assert "HttpOnly" in header and "SameSite=Lax" in header and "Path=/" in header
    assert ("Secure" in header.split("; ")) is secure
    assert "Domain" not in header
