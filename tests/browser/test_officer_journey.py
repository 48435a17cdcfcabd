"""An officer's journey in Chromium against the whole system: compose by text, schedule for two wards, an approver
approves, the loudspeakers play it while the run report follows on its own, then the month's airtime report.

Real HTTP, a real Mosquitto, the real worker and the simulated clusters of the two wards (firmware_sim). Every
step goes through the pages as a person does, and every assertion is on what the page shows or what it gave to
download.
"""

import csv
import re
from datetime import timedelta
from io import StringIO

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from firmware_sim import Fleet, load_csv
from pa_controller import clock
from pa_controller.clock import LOCAL_ZONE
from pa_controller.domain import Role
from pa_controller.extensions import db
from pa_controller.models import Ward
from tests.browser.conftest import DESKTOP
from tests.browser.scene import log_in
from tests.factories import make_user
from tests.support.broker import free_port
from tests.support.system import running_system

WARDS = {"thoi-hoa": "Thới Hòa", "thoi-long": "Thới Long"}
CLUSTERS = [spec for spec in load_csv() if spec.ward in WARDS]
PER_WARD = {ward: sum(spec.ward == ward for spec in CLUSTERS) for ward in WARDS}
TEXT = "Thông báo: 17h30 ngày 02/12 họp tổ dân phố"
TITLE = "Họp tổ dân phố tháng 12"
# The form takes a start to the minute, typed as Vietnam writes it (dd/mm/yyyy HH:MM), and a broadcast that waits for an
# approver cannot be sent "now": the start is the first whole minute at least this far from the officer's
# submitting, time enough to sign out, for the approver to approve and for the clusters to fetch the audio (about
# 3 s here). The wait for that minute is most of the test's time: from LEAD_S to a minute more.
LEAD_S = 10
STEP_MS = 30_000  # generous: two cores shared with other work
DISPATCH_LEAD_S = 90.0  # more than the longest wait for the start: the run is sent as soon as it is approved
RUN_MS = 120_000  # up to a minute's wait for the chosen minute, then the clip and the reports


@pytest.fixture
def controller(templates, make_settings, broker, tmp_path):
    """The controller as in tests/e2e (web on real HTTP, the worker, a real broker) on a copy of the seeded SQLite
    template, with an officer and an approver of both wards, which ask for approval."""
    url, remove = templates.copy("sqlite", True, tmp_path / "loanet.db")
    port = free_port()
    settings = make_settings(url, messaging="mqtt", mqtt_url=broker.controller_url,
                             public_url=f"http://127.0.0.1:{port}", now_lead_s=3.0, run_settle_s=10.0,
                             heartbeat_s=5.0, dispatch_lead_s=DISPATCH_LEAD_S)
    try:
        with running_system(settings, port, migrate=False) as system:
            with system.app.app_context():
                make_user("officer", Role.OFFICER, tuple(WARDS))
                make_user("approver", Role.APPROVER, tuple(WARDS))
                for ward in db.session.scalars(select(Ward).where(Ward.id.in_(WARDS))):
                    ward.approval_required = True
                db.session.commit()
                db.session.remove()
            yield system
    finally:
        remove()


@pytest.fixture
def clusters(controller, broker, tmp_path):
    """The simulated clusters of the two wards, online as the controller sees them."""
    with Fleet(CLUSTERS, broker.url, truth_path=tmp_path / "truth.jsonl", heartbeat_s=5,
               credentials=broker.passwords, keys_url=controller.keys_url) as fleet:
        assert fleet.wait_connected(timeout=60) == len(CLUSTERS)
        controller.wait_for(lambda: len(controller.get("/api/v1/clusters?status=online")) == len(CLUSTERS), 30,
                            f"{len(CLUSTERS)} clusters online")
        yield fleet


@pytest.fixture
def page(browser):
    """A browser window of its own, in Vietnamese, at a desktop's size; it keeps what it downloads."""
    context = browser.new_context(viewport=DESKTOP, locale="vi", accept_downloads=True)
    context.set_default_timeout(STEP_MS)
    yield context.new_page()
    context.close()


def _first_start() -> str:
    """The first whole minute LEAD_S from now, typed as an officer types it (Vietnam's time)."""
    soon = clock.now().astimezone(LOCAL_ZONE) + timedelta(seconds=LEAD_S)
    return (soon.replace(second=0, microsecond=0) + timedelta(minutes=1)).strftime("%d/%m/%Y %H:%M")


def test_an_officer_composes_schedules_and_reports_and_an_approver_lets_it_play(controller, clusters, page):
    base, total = controller.base_url, len(CLUSTERS)

    # 1. The officer of two wards signs in.
    log_in(page, base, "officer")
    expect(page.get_by_role("button", name="Đăng xuất (officer)")).to_be_visible()

    # 2. Composes by text: hears it first (the player gets the MP3), sees how the numbers are read, saves it.
    page.get_by_role("navigation").get_by_role("link", name="Thư viện âm thanh").click()
    speech = page.locator("#speech-form")
    speech.get_by_label("Nội dung bản tin").fill(TEXT)
    speech.get_by_label("Tiêu đề (để trống: lấy đầu văn bản)").fill(TITLE)
    speech.locator("select[name=ward]").select_option("thoi-hoa")
    speech.get_by_role("button", name="Nghe thử").click()
    expect(page.locator("#speech-player")).to_have_attribute("src", re.compile(r"^blob:"))
    expect(page.locator("#speech-reading")).to_have_text(re.compile("mười bảy giờ ba mươi phút"))
    speech.get_by_role("button", name="Lưu thành bản tin").click()
    expect(page.locator(".flash.ok")).to_contain_text(f"Đã lưu “{TITLE}” vào thư viện")
    expect(page.locator("table").first.get_by_role("cell", name=TITLE)).to_be_visible()

    # 3. Schedules it for both wards at the first whole minute to come; the wards ask for approval.
    page.get_by_role("navigation").get_by_role("link", name="Lên lịch phát").click()
    page.locator("input[name=title]").fill(TITLE)
    expect(page.locator("select[name=audio_id] option:checked")).to_contain_text(TITLE)
    for ward in WARDS:
        page.locator(f"input[name=wards][value={ward}]").check()
    page.locator("input[name=start_at]").fill(_first_start())
    page.get_by_role("button", name="Gửi duyệt").click()
    expect(page.locator(".flash.ok")).to_contain_text(f"Đã gửi “{TITLE}” cho người duyệt")
    expect(page.locator("#approval-heading")).to_have_text("Tình trạng duyệt: Chờ duyệt")
    expect(page.get_by_text("Bản tin chỉ được phát sau khi người duyệt đồng ý.")).to_be_visible()
    expect(page.get_by_text("Chưa có lượt phát nào trong 48 giờ tới.")).to_be_visible()
    page.get_by_role("button", name="Đăng xuất (officer)").click()

    # 4. The approver finds it waiting and approves it.
    log_in(page, base, "approver")
    page.get_by_role("navigation").get_by_role("link", name=re.compile("^Chờ duyệt")).click()
    waiting = page.locator("tbody tr", has=page.get_by_role("link", name=TITLE))
    expect(waiting).to_contain_text("Thới Hòa, Thới Long")
    waiting.get_by_role("link", name=TITLE).click()
    page.get_by_role("button", name="Duyệt", exact=True).click()
    expect(page.locator(".flash.ok")).to_contain_text(f"Đã duyệt “{TITLE}”: bản tin sẽ phát theo lịch.")
    expect(page.locator("#approval-heading")).to_have_text("Tình trạng duyệt: Đã duyệt")

    # 5. The run is sent to the clusters ahead of its start; its report follows it without being reloaded.
    report_link = page.locator("table").get_by_role("link", name="Báo cáo")
    for _attempt in range(20):  # the worker sends the run out within a second or so: the approver reloads
        if report_link.count():
            break
        page.wait_for_timeout(500)
        page.reload()
    report_link.click()
    headline = page.locator("[data-live=headline]")
    before = headline.inner_text()
    page.evaluate("window.sameDocument = true")
    expect(headline).to_have_text(f"{total}/{total} đã phát xong", timeout=RUN_MS)
    assert before != f"{total}/{total} đã phát xong", f"the run had ended before its report was opened: {before}"
    assert page.evaluate("window.sameDocument") is True, "the run report was reloaded"
    by_ward = page.locator("[data-live=by_ward]")
    for ward, name in WARDS.items():
        expect(by_ward.locator("tr", has_text=name)).to_have_text(
            re.compile(rf"{name}\s*{PER_WARD[ward]}\s*{PER_WARD[ward]}"))

    # 6. This month's airtime: a session for each ward, played by all its clusters; the CSV and the PDF agree.
    page.get_by_role("navigation").get_by_role("link", name="Báo cáo").click()
    expect(page.locator("h1")).to_have_text("Báo cáo thời lượng phát thanh")
    for ward, name in WARDS.items():
        row = page.locator("table.airtime tbody tr", has=page.get_by_role("rowheader", name=name))
        expect(row.locator("td").nth(0)).to_have_text("1")  # sessions
        expect(row.locator("td").nth(1)).not_to_have_text(re.compile(r"^0[.,]0$"))  # minutes, "0,1" in Vietnamese
        expect(row.locator("td").nth(4)).to_have_text(str(PER_WARD[ward]))  # played to the end
    with page.expect_download() as download:
        page.get_by_role("link", name="Tải CSV").click()
    rows = list(csv.reader(StringIO(download.value.path().read_text(encoding="utf-8-sig"))))
    assert rows[0][:4] == ["Tháng", "Phường", "Buổi phát", "Phút phát"], rows[0]
    found = {row[1]: row for row in rows[1:]}
    assert set(found) == set(WARDS.values()), rows
    for ward, name in WARDS.items():
        assert (found[name][2], found[name][6]) == ("1", str(PER_WARD[ward])), found[name]
        assert float(found[name][3]) > 0, found[name]
    with page.expect_download() as download:
        page.get_by_role("link", name="Tải PDF").click()
    assert download.value.suggested_filename.endswith(".pdf")
    assert download.value.path().read_bytes().startswith(b"%PDF")

    # 7. English and back: the page's heading follows the language switch.
    page.get_by_role("link", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("h1")).to_have_text("Airtime report")
    page.get_by_role("link", name="Tiếng Việt").click()
    expect(page.locator("html")).to_have_attribute("lang", "vi")
    expect(page.locator("h1")).to_have_text("Báo cáo thời lượng phát thanh")
