"""The broadcast pages as each role uses them: pick a clip, schedule, see, edit and cancel; menus by role."""

import re
from datetime import timedelta

from sqlalchemy import select

from pa_controller import clock
from pa_controller.domain import Role
from pa_controller.extensions import db
from pa_controller.models import Broadcast, Delivery, Run, User
from pa_controller.services import broadcasts
from pa_protocol import DeliveryState, RunState
from tests.factories import broadcast_request, make_audio
from tests.web.test_pages import log_in


def local_in(hours: float) -> str:
    return (clock.now() + timedelta(hours=hours)).astimezone(clock.LOCAL_ZONE).strftime("%d/%m/%Y %H:%M")


def options(page: str) -> list[tuple[str, str, bool]]:
    """The audio picker's (value, text, selected) options."""
    picker = re.search(r'<select name="audio_id"[^>]*>(.*?)</select>', page, re.S).group(1)
    return [(value, text.strip(), bool(chosen)) for value, chosen, text in
            re.findall(r'<option value="([^"]*)"( selected)?(?: lang="vi")?>([^<]*)</option>', picker)]


def nav(page: str) -> str:
    return re.search(r"<nav.*?</nav>", page, re.S).group(0)


def test_the_picker_has_no_default_and_offers_recordings_not_composed_programmes(client, officer_auth):
    make_audio(title="Lịch tiêm chủng")
    make_audio(title="Bản tin sáng (ghép)", sha256="b" * 64, composed=True)  # the newest entry is a programme
    log_in(client, "officer-thoi-hoa")
    offered = options(client.get("/broadcasts/new").get_data(as_text=True))
    assert [text.split(" (")[0] for _value, text, _chosen in offered] == ["— Chọn bản ghi âm —", "Lịch tiêm chủng"]
    assert [chosen for *_rest, chosen in offered] == [True, False], "nothing chosen for the officer"


def test_the_picker_starts_on_the_officers_last_upload(client, officer_auth):
    officer = db.session.scalar(select(User).where(User.username == "officer-thoi-hoa"))
    make_audio(title="Cũ", uploaded_by=officer.id)
    mine = make_audio(title="Mới tải lên", sha256="c" * 64, uploaded_by=officer.id)
    make_audio(title="Của người khác", sha256="d" * 64)
    log_in(client, "officer-thoi-hoa")
    chosen = [value for value, _text, selected in options(client.get("/broadcasts/new").get_data(as_text=True))
              if selected]
    assert chosen == [str(mine.id)]


def test_the_api_lists_recordings_and_programmes_apart(client, officer_auth):
    recording = make_audio()
    programme = make_audio(sha256="e" * 64, composed=True)
    listed = {flag: [a["id"] for a in client.get(f"/api/v1/audio?composed={flag}", headers=officer_auth).get_json()]
              for flag in ("false", "true")}
    assert listed == {"false": [recording.id], "true": [programme.id]}
    assert client.get("/api/v1/audio?composed=maybe", headers=officer_auth).status_code == 422


def finished_district_run(admin) -> Run:
    """A district-wide run that has played everywhere."""
    broadcast, _ = broadcasts.create_broadcast(admin, broadcast_request(make_audio().id, targets={"all": True},
                                                                        start_at="now", priority="emergency"))
    run = broadcast.runs[0]
    for delivery in db.session.scalars(select(Delivery).where(Delivery.run_id == run.id)):
        delivery.state = DeliveryState.DONE
    run.state = RunState.FINISHED
    db.session.commit()
    return run


def test_an_officer_sees_their_wards_part_of_a_district_run(client, officer_auth, admin_auth):
    run = finished_district_run(db.session.scalar(select(User).where(User.role == Role.ADMIN)))
    log_in(client, "officer-thoi-hoa")
    dashboard = client.get("/")
    assert dashboard.status_code == 200
    assert "58/58" in dashboard.get_data(as_text=True), "Thới Hòa's 58 clusters, not the district's 456"
    report = client.get(f"/runs/{run.id}").get_data(as_text=True)
    assert "58/58" in report and "Long Hưng" not in report
    answer = client.get(f"/api/v1/runs/{run.id}", headers=officer_auth).get_json()
    assert answer["counts"] == {"done": 58} and set(answer["by_ward"]) == {"thoi-hoa"}
    assert client.delete(f"/api/v1/runs/{run.id}", headers=officer_auth).status_code == 403, "seeing is not acting"


def test_holidays_are_written_and_shown_dd_mm_yyyy(client, officer_auth):
    clip = make_audio()
    log_in(client, "officer-thoi-hoa")
    saved = client.post("/broadcasts/new", data={"title": "Bản tin sáng", "audio_id": clip.id, "wards": ["thoi-hoa"],
                                                  "start_at": local_in(3), "repeat": "daily",
                                                  "exdates": "01/01/2027, 30/4/2027", "action": "save"})
    assert saved.status_code == 302
    broadcast = db.session.scalars(select(Broadcast)).one()
    assert broadcast.exdates == ["2027-01-01", "2027-04-30"]
    form = client.get(f"/broadcasts/{broadcast.id}/edit").get_data(as_text=True)
    assert 'name="exdates" value="01/01/2027, 30/04/2027"' in form


def test_the_start_is_typed_dd_mm_yyyy_on_a_24_hour_clock_and_shown_back_so(client, officer_auth):
    clip = make_audio()
    log_in(client, "officer-thoi-hoa")
    new = client.get("/broadcasts/new").get_data(as_text=True)
    field = re.search(r'<input type="text" id="field-start_at" name="start_at"[^>]*>', new, re.S).group(0)
    assert 'inputmode="numeric"' in field and 'pattern="' in field and 'aria-describedby="field-start_at-hint"' in field
    assert '<label for="field-start_at">Hoặc lúc</label>' in new
    assert 'id="field-start_at-hint">ngày/tháng/năm giờ:phút, 24 giờ, ví dụ 05/01/2027 17:30<' in new
    start = (clock.now() + timedelta(days=2)).astimezone(clock.LOCAL_ZONE).replace(hour=17, minute=30, second=0,
                                                                                  microsecond=0)
    saved = client.post("/broadcasts/new", data={"title": "Bản tin chiều", "audio_id": clip.id, "wards": ["thoi-hoa"],
                                                  "start_at": start.strftime("%d/%m/%Y %H:%M"), "action": "save"})
    assert saved.status_code == 302, saved.get_data(as_text=True)
    broadcast = db.session.scalars(select(Broadcast)).one()
    assert broadcast.start_at == start, "day first, 17:30 in Vietnam"
    form = client.get(f"/broadcasts/{broadcast.id}/edit").get_data(as_text=True)
    assert f'name="start_at" value="{start:%d/%m/%Y} 17:30"' in form


def test_a_start_the_calendar_or_clock_lacks_is_refused_on_the_form_and_nothing_is_saved(client, officer_auth):
    clip = make_audio()
    log_in(client, "officer-thoi-hoa")
    for typed in ("31/02/2027 08:00", "05/01/2027 24:00", "2027-13-01T08:00", "05/01/2027 5:30 PM", "mai"):
        answer = client.post("/broadcasts/new", data={"title": "Họp", "audio_id": clip.id, "wards": ["thoi-hoa"],
                                                      "start_at": typed, "action": "save"})
        page = answer.get_data(as_text=True)
        assert answer.status_code == 422 and 'class="flash error"' in page, typed
        assert "Giờ phát viết dạng ngày/tháng/năm giờ:phút (24 giờ), ví dụ 05/01/2027 17:30." in page, typed
        assert f'name="start_at" value="{typed}"' in page, "kept as typed, to correct"
    assert db.session.scalars(select(Broadcast)).all() == []


def test_saving_lands_on_the_broadcast_which_can_be_listed_edited_and_cancelled(client, officer_auth):
    clip = make_audio()
    log_in(client, "officer-thoi-hoa")
    saved = client.post("/broadcasts/new", data={"title": "Họp tổ dân phố", "audio_id": clip.id,
                                                  "wards": ["thoi-hoa"], "start_at": local_in(3), "repeat": "daily",
                                                  "action": "save"})
    broadcast = db.session.scalars(select(Broadcast)).one()
    assert saved.status_code == 302 and saved.headers["Location"].endswith(f"/broadcasts/{broadcast.id}")
    page = client.get(saved.headers["Location"]).get_data(as_text=True)
    assert "Đã lên lịch “Họp tổ dân phố”. Lượt phát đầu:" in page and "Hằng ngày" in page
    assert "Họp tổ dân phố" in client.get("/broadcasts").get_data(as_text=True)

    form = client.get(f"/broadcasts/{broadcast.id}/edit").get_data(as_text=True)
    assert 'value="Họp tổ dân phố"' in form and 'value="daily" selected' in form
    edited = client.post(f"/broadcasts/{broadcast.id}/edit", data={
        "title": "Họp tổ dân phố (dời giờ)", "audio_id": clip.id, "wards": ["thoi-hoa"], "start_at": local_in(4),
        "repeat": "daily", "action": "save"})
    assert edited.status_code == 302
    db.session.refresh(broadcast)
    assert broadcast.title == "Họp tổ dân phố (dời giờ)"

    first = min(broadcast.runs, key=lambda r: r.start_at)
    assert client.post(f"/runs/{first.id}/cancel").status_code == 302
    db.session.refresh(first)
    assert first.state is RunState.CANCELLED
    assert client.post(f"/broadcasts/{broadcast.id}/cancel").status_code == 302
    db.session.refresh(broadcast)
    assert broadcast.cancelled_at is not None
    assert all(r.state is RunState.CANCELLED for r in broadcast.runs)
    listed = client.get("/broadcasts").get_data(as_text=True)
    assert "Chưa có bản tin nào." in listed and "/broadcasts/1\"" not in listed


def test_sending_now_from_the_form_says_when_it_will_start(client, officer_auth):
    log_in(client, "officer-thoi-hoa")
    saved = client.post("/broadcasts/new", data={"title": "Khẩn", "audio_id": make_audio().id, "now": "1",
                                                  "wards": ["thoi-hoa"], "priority": "emergency", "action": "save"})
    page = client.get(saved.headers["Location"]).get_data(as_text=True)
    assert re.search(r"“Khẩn” sẽ phát lúc \d\d:\d\d:\d\d \(sau \d+ giây\)", page), page


def test_several_times_a_day_from_the_form(client, officer_auth):
    log_in(client, "officer-thoi-hoa")
    client.post("/broadcasts/new", data={"title": "Bản tin", "audio_id": make_audio().id, "wards": ["thoi-hoa"],
                                         "start_at": local_in(1), "repeat": "daily", "times": "05:30, 17h00",
                                         "action": "save"})
    broadcast = db.session.scalars(select(Broadcast)).one()
    assert broadcast.times == ["05:30", "17:00"] and broadcast.rrule == "FREQ=DAILY"
    walls = {r.start_at.astimezone(clock.LOCAL_ZONE).strftime("%H:%M") for r in broadcast.runs}
    assert walls == {"05:30", "17:00"}


def test_several_times_a_day_need_no_start_the_first_is_the_next_of_those_times(client, officer_auth, monkeypatch):
    """The README's first steps: Hằng ngày, 05:30 and 17:00, no date; at 13:30:30 the first run is today's 17:00."""
    tomorrow = clock.now().astimezone(clock.LOCAL_ZONE) + timedelta(days=1)
    moment = tomorrow.replace(hour=13, minute=30, second=30, microsecond=0)
    monkeypatch.setattr(clock, "now", lambda: moment)
    log_in(client, "officer-thoi-hoa")
    saved = client.post("/broadcasts/new", data={"title": "Bản tin", "audio_id": make_audio().id,
                                                 "wards": ["thoi-hoa"], "repeat": "daily", "times": "05:30, 17:00",
                                                 "action": "save"})
    assert saved.status_code == 302, saved.get_data(as_text=True)
    first = min(db.session.scalars(select(Broadcast)).one().runs, key=lambda r: r.start_at)
    assert first.start_at == moment.replace(hour=17, minute=0, second=0)


def test_each_role_is_offered_what_it_may_do(client, officer_auth, technician_auth):
    log_in(client, "tech")
    menu = nav(client.get("/").get_data(as_text=True))
    assert "Lên lịch phát" not in menu and "Thư viện âm thanh" not in menu and "Mạng loa" in menu
    refused = client.get("/broadcasts/new")
    assert refused.status_code == 403 and "quản trị viên" in refused.get_data(as_text=True)
    client.post("/logout")
    log_in(client, "officer-thoi-hoa")
    menu = nav(client.get("/").get_data(as_text=True))
    assert "Lên lịch phát" in menu and "Các bản tin" in menu


def test_an_unknown_page_is_a_vietnamese_page_with_a_way_back(client, officer_auth):
    log_in(client, "officer-thoi-hoa")
    missing = client.get("/broadcasts/999999")
    text = missing.get_data(as_text=True)
    assert missing.status_code == 404 and "Not Found" not in text and "Về trang tổng quan" in text


def test_a_missed_run_and_a_silent_cluster_read_differently(seeded):
    from pa_controller.web.labels import label

    assert (label(RunState.MISSED), label(DeliveryState.MISSED)) == ("Bị lỡ", "Không phản hồi")


def test_what_a_refused_form_says_is_in_the_readers_language_with_names_and_what_to_do(client, officer_auth):
    log_in(client, "officer-thoi-hoa")
    clip = make_audio()
    cases = {  # a form as a person fills it in badly → words the page must show, in Vietnamese
        "start": ({"wards": ["thoi-hoa"], "start_at": ""}, "Hãy chọn giờ phát, hoặc chọn phát ngay"),
        "where": ({"start_at": local_in(2)}, "Hãy chọn nơi phát"),
        "rule": ({"wards": ["thoi-hoa"], "start_at": local_in(2), "repeat": "custom", "rrule": "FREQ=DAILY;BYHOUR"},
                 "phần “BYHOUR” phải có dạng TÊN=GIÁ TRỊ"),
    }
    for fields, words in cases.values():
        page = client.post("/broadcasts/new", data={"title": "Họp", "audio_id": clip.id, "action": "save",
                                                     **fields}).get_data(as_text=True)
        assert words in page and "RFC 3339" not in page and "unpack" not in page and "targets must" not in page
    client.get("/lang/en")
    page = client.post("/broadcasts/new", data={"title": "Họp", "audio_id": clip.id, "action": "save",
                                                 **cases["start"][0]}).get_data(as_text=True)
    assert "Choose a start time, or choose to play now" in page and "Hãy chọn giờ phát" not in page


def test_a_conflict_names_the_other_broadcast_and_its_local_time_to_the_second(client, officer_auth):
    log_in(client, "officer-thoi-hoa")
    clip = make_audio(duration_ms=15_000)
    form = {"title": "Bản tin chiều", "audio_id": clip.id, "wards": ["thoi-hoa"], "start_at": local_in(5),
            "action": "save"}
    client.post("/broadcasts/new", data=form)
    page = client.post("/broadcasts/new", data={**form, "title": "Trùng"}).get_data(as_text=True)
    start = local_in(5)[11:]  # HH:MM
    assert f"“Bản tin chiều” ({start}:00–{start}:15)" in page, "not 17:00–17:00"
    assert "Trùng giờ với 1 lượt phát cùng mức ưu tiên trên cùng cụm loa" in page


def test_a_page_behind_a_login_asks_for_it_in_vietnamese(client, officer_auth):
    page = client.get("/broadcasts", follow_redirects=True).get_data(as_text=True)
    assert "Hãy đăng nhập để xem trang này." in page and "Please log in" not in page
