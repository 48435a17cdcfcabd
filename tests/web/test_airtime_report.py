"""The monthly airtime report sent upward: figures per ward over an Asia/Ho_Chi_Minh month, scoped, as page, CSV,
PDF and JSON."""

import csv
from datetime import UTC, datetime
from io import StringIO

import pytest

from pa_controller import clock
from pa_controller.domain import REJECTION_NOTE, Role
from pa_controller.extensions import db
from pa_controller.models import Ward
from pa_controller.services import airtime
from pa_controller.web import airtime_export
from pa_protocol import DeliveryState
from tests.factories import bearer, make_run, make_user
from tests.support.pdf_text import pdf_text
from tests.support.signing_in import log_in

DONE, FAILED, MISSED = DeliveryState.DONE, DeliveryState.FAILED, DeliveryState.MISSED
THREE_MINUTES = 180_000


def utc(*fields) -> datetime:
    return datetime(*fields, tzinfo=UTC)


@pytest.fixture
def december(seeded):
    """Runs around December 2026 in Asia/Ho_Chi_Minh (UTC+7); what December holds is in the comments."""
    first = make_run(utc(2026, 11, 30, 17, 30), {  # 00:30 on 1 December locally: December's
        "om-tho-001": DONE, "om-tho-002": DONE, "om-tho-003": (FAILED, {"reason": "amplifier"}),
        "om-lhg-001": DONE}, duration_ms=THREE_MINUTES)
    make_run(utc(2026, 12, 31, 16, 30), {  # 23:30 on 31 December: December's; the cancelled one is not counted
        "om-tho-001": DONE, "om-tho-002": DeliveryState.CANCELLED}, broadcast=first.broadcast)
    make_run(utc(2026, 12, 31, 17, 10), {"om-tho-001": DONE})  # 00:10 on 1 January: January's, though 31/12 UTC
    make_run(utc(2026, 11, 30, 16, 50), {"om-tho-001": DONE})  # 23:50 on 30 November: November's
    make_run(utc(2026, 12, 15, 1, 0), {  # played nowhere: sent, not a session
        "om-tho-004": FAILED, "om-tho-005": (MISSED, {REJECTION_NOTE: {"reason": "replay"}})}, duration_ms=60_000)
    return airtime.Month(2026, 12)


def figures(line) -> tuple:
    return line.sessions, line.minutes, line.cluster_minutes, line.items, line.done, line.sent, line.rate


def test_a_month_runs_from_local_midnight_on_the_first(seeded):
    december = airtime.Month.parse("2026-12")
    assert (december.starts, december.ends) == (utc(2026, 11, 30, 17), utc(2026, 12, 31, 17))
    assert str(december.next) == "2027-01" and str(airtime.Month.parse("2027-01").previous) == "2026-12"


def test_each_ward_s_airtime_counts_the_runs_of_its_local_month(december, admin):
    report = airtime.month_report(admin, december)
    lines = {line.name: line for line in report.wards}
    assert len(lines) == 7, "every ward, those silent too"
    assert figures(lines["Thới Hòa"]) == (2, 6.0, 9.0, 1, 3, 6, 0.5)
    assert figures(lines["Long Hưng"]) == (1, 3.0, 3.0, 1, 1, 1, 1.0)
    assert figures(lines["Trường Lạc"]) == (0, 0.0, 0.0, 0, 0, 0, None)
    assert figures(report.total) == (2, 6.0, 12.0, 1, 4, 7, 4 / 7), "a run in two wards is one session of the district"
    january = airtime.month_report(admin, december.next)
    assert figures(january.total)[:2] == (1, 1.0), "the run at 00:10 on 1 January local time"


@pytest.mark.parametrize("role", [Role.OFFICER, Role.APPROVER])
def test_a_ward_s_people_see_their_ward_s_line_and_no_district_total(december, role):
    person = make_user("nguoi-thoi-hoa", role, ("thoi-hoa",))
    report = airtime.month_report(person, december)
    assert [line.name for line in report.wards] == ["Thới Hòa"] and report.total is None


def test_a_district_viewer_sees_every_ward_and_the_total(december):
    report = airtime.month_report(make_user("xem", Role.VIEWER), december)
    assert len(report.wards) == 7 and report.total.done == 4


def test_the_page_shows_the_month_asked_and_links_to_its_files(client, december):
    make_user("can-bo", Role.OFFICER, ("thoi-hoa",))
    log_in(client, "can-bo")
    page = client.get("/reports/airtime?month=2026-12").get_data(as_text=True)
    assert "Tháng 12/2026" in page and "Thới Hòa" in page and "Long Hưng" not in page
    assert "50,0%" in page, "numbers written the Vietnamese way"
    assert 'href="/reports/airtime.csv?month=2026-12"' in page and 'href="/reports/airtime.pdf?month=2026-12"' in page
    assert 'href="/reports/airtime"' in page, "the menu's Báo cáo"
    this_month = clock.now().astimezone(clock.LOCAL_ZONE).strftime("%m/%Y")
    for path in ("/reports/airtime", "/reports/airtime?month="):
        assert f"Tháng {this_month}" in client.get(path).get_data(as_text=True), "no month: this month"


@pytest.mark.parametrize("month", ["2026-13", "13/2026", "26-12", "2026-1", "1999-12", "12/1999", "2026-12-01",
                                   "tháng 12"])
def test_a_month_not_written_mm_yyyy_is_refused_in_words(client, december, admin, month):
    log_in(client, "admin")
    for path in ("/reports/airtime", "/reports/airtime.csv", "/reports/airtime.pdf"):
        answer = client.get(path, query_string={"month": month})
        assert answer.status_code == 422, (path, month)
        assert "Tháng viết dạng tháng/năm, ví dụ 12/2026." in answer.get_data(as_text=True)


def test_the_month_field_is_typed_mm_yyyy_and_its_links_stay_iso(client, december, admin):
    log_in(client, "admin")
    page = client.get("/reports/airtime?month=12/2026").get_data(as_text=True)
    assert "Tháng 12/2026" in page and 'name="month" value="12/2026"' in page
    assert 'href="/reports/airtime?month=2027-01"' in page and 'href="/reports/airtime.csv?month=2026-12"' in page
    assert "Tháng 12/2026" in client.get("/reports/airtime?month=2026-12").get_data(as_text=True), "a bookmark"


def test_the_csv_opens_as_utf8_in_a_spreadsheet_and_holds_the_rows(client, december, admin):
    db.session.get(Ward, "truong-lac").name = "=HYPERLINK(\"http://x\")"  # a name a spreadsheet would run
    db.session.commit()
    log_in(client, "admin")
    answer = client.get("/reports/airtime.csv?month=2026-12")
    assert answer.mimetype == "text/csv" and "loanet-phut-phat-2026-12.csv" in answer.headers["Content-Disposition"]
    body = answer.get_data()
    assert body.startswith("\ufeff".encode())
    rows = list(csv.reader(StringIO(body.decode("utf-8-sig"))))
    assert rows[0] == ["Tháng", "Phường", "Buổi phát", "Phút phát", "Cụm·phút", "Số bản tin", "Đã phát xong", "Đã gửi",
                       "Tỉ lệ phát xong"]
    assert ["2026-12", "Thới Hòa", "2", "6.0", "9.0", "1", "3", "6", "0.5000"] in rows
    assert rows[-1] == ["2026-12", "Toàn quận", "2", "6.0", "12.0", "1", "4", "7", "0.5714"]
    assert ["2026-12", "'=HYPERLINK(\"http://x\")", "0", "0.0", "0.0", "0", "0", "0", ""] in rows


def test_the_pdf_is_a_pdf_with_the_vietnamese_ward_names_in_an_embedded_unicode_font(client, december, admin):
    log_in(client, "admin")
    answer = client.get("/reports/airtime.pdf?month=2026-12")
    assert answer.mimetype == "application/pdf"
    pdf = answer.get_data()
    assert pdf.startswith(b"%PDF-") and b"+DejaVuSans" in pdf, "a subset of DejaVu Sans, embedded"
    text = pdf_text(pdf)
    for words in ("Báo cáo thời lượng phát thanh", "Tháng 12/2026 · Toàn quận", "Thới Hòa", "Long Hưng",
                  "Châu Văn Liêm", "Toàn quận", "50,0%", "Buổi phát: lượt phát trong tháng", "Lập lúc"):
        assert words in text, words


def test_an_officer_s_pdf_names_only_their_ward(client, december):
    make_user("can-bo", Role.OFFICER, ("thoi-hoa",))
    log_in(client, "can-bo")
    text = pdf_text(client.get("/reports/airtime.pdf?month=2026-12").get_data())
    assert "Tháng 12/2026 · Thới Hòa" in text and "Long Hưng" not in text


def test_the_api_twin_answers_the_same_figures_scoped_to_the_token(client, december, admin):
    officer = make_user("can-bo", Role.OFFICER, ("thoi-hoa",))
    mine = client.get("/api/v1/reports/airtime?month=2026-12", headers=bearer(officer)).get_json()
    assert mine["month"] == "2026-12" and mine["total"] is None
    assert mine["wards"] == [{"ward": "thoi-hoa", "name": "Thới Hòa", "sessions": 2, "minutes": 6.0,
                              "cluster_minutes": 9.0, "items": 1, "done": 3, "sent": 6, "rate": 0.5}]
    district = client.get("/api/v1/reports/airtime?month=2026-12", headers=bearer(admin)).get_json()
    assert district["total"]["sent"] == 7 and len(district["wards"]) == 7
    refused = client.get("/api/v1/reports/airtime?month=2026-13", headers=bearer(admin))
    assert refused.status_code == 422 and "month" in refused.get_json()["error"]["fields"]
    typed = client.get("/api/v1/reports/airtime?month=12/2026", headers=bearer(admin))
    assert typed.get_json()["error"]["fields"] == {"month": "Tháng viết dạng YYYY-MM, ví dụ 2026-12."}, "as documented"
    assert client.get("/api/v1/reports/airtime").status_code == 401


def test_without_its_font_the_pdf_is_refused_in_words_not_a_server_error(client, december, admin, monkeypatch):
    monkeypatch.setattr(airtime_export, "FONT", "/nonexistent/DejaVuSans.ttf")
    log_in(client, "admin")
    answer = client.get("/reports/airtime.pdf?month=2026-12")
    assert answer.status_code == 503 and "fonts-dejavu-core" in answer.get_data(as_text=True)
    assert client.get("/reports/airtime.csv?month=2026-12").status_code == 200
