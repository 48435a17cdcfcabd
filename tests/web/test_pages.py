"""The officer's pages: Vietnamese first, English on request, forms guarded by login and CSRF."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from pa_controller import clock
from pa_controller.extensions import db
from pa_controller.models import Broadcast
from tests.conftest import PASSWORD
from tests.factories import make_audio


def log_in(client, username: str):
    return client.post("/login", data={"username": username, "password": PASSWORD})


def test_pages_need_a_login(client):
    response = client.get("/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_a_wrong_password_is_refused_in_vietnamese(client, admin_auth):
    response = client.post("/login", data={"username": "admin", "password": "wrong"})
    assert response.status_code == 401
    assert "Sai tên đăng nhập hoặc mật khẩu." in response.get_data(as_text=True)


def test_the_dashboard_shows_every_ward_in_vietnamese(client, admin_auth):
    log_in(client, "admin")
    page = client.get("/").get_data(as_text=True)
    assert "Cụm loa theo phường" in page
    for ward in ("Châu Văn Liêm", "Thới Hòa", "Thới An", "Phước Thới", "Trường Lạc", "Long Hưng", "Thới Long"):
        assert ward in page


def test_english_is_one_click_away(client, admin_auth):
    log_in(client, "admin")
    client.get("/lang/en")
    assert "Clusters by ward" in client.get("/").get_data(as_text=True)
    assert client.get("/lang/fr").status_code == 404


def test_an_officer_sees_only_their_ward_on_the_dashboard(client, officer_auth):
    log_in(client, "officer-thoi-hoa")
    page = client.get("/").get_data(as_text=True)
    assert "Thới Hòa" in page and "Long Hưng" not in page


def test_an_officer_schedules_from_the_form(client, officer_auth):
    log_in(client, "officer-thoi-hoa")
    clip = make_audio()
    local = (clock.now() + timedelta(hours=3)).astimezone(clock.LOCAL_ZONE).strftime("%Y-%m-%dT%H:%M")
    response = client.post("/broadcasts/new", data={"title": "Họp tổ dân phố", "audio_id": clip.id,
                                                     "priority": "normal", "wards": ["thoi-hoa"], "start_at": local})
    assert response.status_code == 302
    assert db.session.scalar(select(func.count()).select_from(Broadcast)) == 1


def test_the_form_shows_why_a_broadcast_was_refused(client, officer_auth):
    log_in(client, "officer-thoi-hoa")
    clip = make_audio()
    response = client.post("/broadcasts/new", data={"title": "Họp", "audio_id": clip.id, "wards": ["thoi-hoa"],
                                                     "start_at": "2020-01-01T05:30"})
    assert response.status_code == 422
    assert "Giờ phát đã qua; hãy chọn giờ muộn hơn hoặc phát ngay." in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Broadcast)) == 0


@pytest.mark.parametrize("path, technician_status", [("/audio", 200), ("/broadcasts", 200), ("/broadcasts/new", 403)])
def test_pages_render_for_each_role_that_may_use_them(client, admin_auth, technician_auth, path, technician_status):
    for username, status in (("admin", 200), ("tech", technician_status)):
        client.post("/logout")
        log_in(client, username)
        assert client.get(path).status_code == status


def test_forms_refuse_a_post_without_a_csrf_token(seeded, admin_auth):
    seeded.config["WTF_CSRF_ENABLED"] = True
    client = seeded.test_client()
    response = client.post("/login", data={"username": "admin", "password": PASSWORD})
    assert response.status_code == 400


def test_the_check_button_shows_next_runs_and_conflicts_before_saving(client, officer_auth):
    log_in(client, "officer-thoi-hoa")
    clip = make_audio(duration_ms=60_000)
    local = (clock.now() + timedelta(hours=3)).astimezone(clock.LOCAL_ZONE).strftime("%d/%m/%Y %H:%M")
    form = {"title": "Bản tin sáng", "audio_id": clip.id, "wards": ["thoi-hoa"], "start_at": local,
            "repeat": "mon-sat", "exdates": "2027-01-01"}
    assert client.post("/broadcasts/new", data={**form, "action": "save"}).status_code == 302
    page = client.post("/broadcasts/new", data={**form, "title": "Bản tin trùng", "action": "check"})
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "Kiểm tra trước khi lưu" in text
    assert "Trùng giờ với bản tin cùng mức ưu tiên" in text and "“Bản tin sáng”" in text
    assert db.session.scalar(select(func.count()).select_from(Broadcast)) == 1
    saved = db.session.scalars(select(Broadcast)).one()
    assert saved.rrule == "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR,SA" and saved.exdates == ["2027-01-01"]
    refused = client.post("/broadcasts/new", data={**form, "title": "Bản tin trùng", "action": "save"})
    assert refused.status_code == 409 and "Trùng giờ" in refused.get_data(as_text=True)
