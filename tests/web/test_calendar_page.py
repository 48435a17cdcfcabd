"""The calendar page: each run on its local day and hour, series in full, and only the reader's wards."""

import re
from datetime import datetime, timedelta

import pytest

from pa_controller import clock
from pa_controller.domain import ApprovalState
from pa_protocol import Priority, RunState
from tests.factories import make_broadcast
from tests.web.test_pages import log_in

NOW = datetime(2027, 3, 3, 9, 0, tzinfo=clock.LOCAL_ZONE)  # Wednesday; its week runs from Monday 1 to Sunday 7 March


def local(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2027, 3, day, hour, minute, tzinfo=clock.LOCAL_ZONE)


@pytest.fixture
def officer(client, officer_auth, monkeypatch):
    """The Thới Hòa officer signed in, on Wednesday 3 March 2027 at 09:00."""
    monkeypatch.setattr(clock, "now", lambda: NOW)
    log_in(client, "officer-thoi-hoa")
    return client


def week_cell(page: str, hour: str, column: int) -> str:
    """What the week's grid shows at an hour ("17:00") on a day (0: Monday … 6: Sunday)."""
    row = re.search(rf'<tr><th scope="row">{hour}</th>(.*?)</tr>', page, re.S)
    assert row, f"no row for {hour}"
    return re.findall(r"<td>(.*?)</td>", row.group(1), re.S)[column]


def day_list(page: str) -> dict[str, str]:
    """The phone's day-by-day list: heading → what it holds."""
    return dict(re.findall(r"<h3>([^<]*)</h3>(.*?)</section>", page, re.S))


def test_the_week_starts_on_monday_with_vietnamese_day_names(officer):
    page = officer.get("/calendar?date=2027-03-03").get_data(as_text=True)
    header = re.search(r"<thead>.*?</thead>", page, re.S)
    assert header is None, "an empty week has no grid"
    make_broadcast(local(3, 10), runs=[(local(3, 10), RunState.SCHEDULED)])
    page = officer.get("/calendar").get_data(as_text=True)
    names = re.findall(r'<th scope="col"[^>]*>([^<]*)<br>', page)
    assert names == ["Thứ Hai", "Thứ Ba", "Thứ Tư", "Thứ Năm", "Thứ Sáu", "Thứ Bảy", "Chủ Nhật"]
    assert "Tuần 01/03 – 07/03/2027" in page


@pytest.mark.parametrize(("start", "hour", "column", "heading"), [
    (local(7, 17), "17:00", 6, "Chủ Nhật 07/03"),
    (local(7, 5, 30), "05:00", 6, "Chủ Nhật 07/03"),  # 22:30 UTC on Saturday
    (local(4, 0, 15), "00:00", 3, "Thứ Năm 04/03"),  # 17:15 UTC on Wednesday
])
def test_a_run_sits_on_its_local_day_and_hour(officer, start, hour, column, heading):
    make_broadcast(start, runs=[(start, RunState.SCHEDULED)], title="Lịch tiêm chủng")
    page = officer.get("/calendar?date=2027-03-03").get_data(as_text=True)
    wall = start.strftime("%H:%M")
    assert "Lịch tiêm chủng" in week_cell(page, hour, column) and wall in week_cell(page, hour, column)
    others = [week_cell(page, hour, c) for c in range(7) if c != column]
    assert not any("Lịch tiêm chủng" in cell for cell in others)
    assert "Lịch tiêm chủng" in day_list(page)[heading]
    assert "Thới Hòa" in week_cell(page, hour, column) and "1 phút 30 giây" in week_cell(page, hour, column)


def test_a_run_early_on_monday_belongs_to_the_next_week_though_utc_says_sunday(officer):
    start = local(8, 6)  # 23:00 UTC on Sunday 7 March
    make_broadcast(start, runs=[(start, RunState.SCHEDULED)], title="Bản tin đầu tuần")
    assert "Bản tin đầu tuần" not in officer.get("/calendar?date=2027-03-07").get_data(as_text=True)
    page = officer.get("/calendar?date=2027-03-08").get_data(as_text=True)
    assert "Bản tin đầu tuần" in week_cell(page, "06:00", 0)


def test_a_daily_0530_series_shows_seven_times_in_a_week_planned_or_not(officer):
    first = local(8, 5, 30)
    make_broadcast(first, rrule="FREQ=DAILY", title="Bản tin sáng",
                   runs=[(first, RunState.SCHEDULED), (first + timedelta(days=1), RunState.SCHEDULED)])
    page = officer.get("/calendar?date=2027-03-10").get_data(as_text=True)
    cells = [week_cell(page, "05:00", column) for column in range(7)]
    assert all(cell.count("Bản tin sáng") == 1 and "05:30" in cell for cell in cells)
    assert sum("chưa lên lượt" in cell for cell in cells) == 5, "two planned runs, five occurrences to come"
    assert len(day_list(page)) == 7


def test_a_cancelled_run_leaves_its_day_empty(officer):
    first = local(8, 5, 30)
    make_broadcast(first, rrule="FREQ=DAILY", title="Bản tin sáng",
                   runs=[(first, RunState.CANCELLED), (first + timedelta(days=1), RunState.SCHEDULED)])
    page = officer.get("/calendar?date=2027-03-08").get_data(as_text=True)
    assert "Bản tin sáng" not in week_cell(page, "05:00", 0) and "Bản tin sáng" in week_cell(page, "05:00", 1)


def test_the_day_view_shows_one_day_and_moves_a_day_at_a_time(officer):
    make_broadcast(local(7, 17), runs=[(local(7, 17), RunState.SCHEDULED)], title="Chủ nhật")
    make_broadcast(local(6, 17), runs=[(local(6, 17), RunState.SCHEDULED)], title="Thứ bảy")
    page = officer.get("/calendar?view=day&date=2027-03-07").get_data(as_text=True)
    assert "Chủ Nhật, 07/03/2027" in page and "Chủ nhật" in page and "Thứ bảy" not in page
    assert all(f'href="/calendar?view=day&amp;date=2027-03-0{d}"' in page for d in (6, 8)), "the day before, after"
    week = officer.get("/calendar?date=2027-03-07").get_data(as_text=True)
    assert all(f'href="/calendar?view=week&amp;date={d}"' in week for d in ("2027-02-28", "2027-03-03")), (
        "a week back, and today")


def test_priorities_read_by_colour_and_by_word_with_a_legend(officer):
    make_broadcast(local(4, 8), runs=[(local(4, 8), RunState.SCHEDULED)], priority=Priority.EMERGENCY, title="Bão")
    page = officer.get("/calendar").get_data(as_text=True)
    legend = re.search(r'<ul class="map-legend".*?</ul>', page, re.S).group(0)
    assert all(word in legend for word in ("● Thông thường", "▲ Ưu tiên", "⚠ Khẩn cấp"))
    marked = r'class="entry prio-emergency">\s*<span class="mark">⚠ Khẩn cấp</span>'
    assert re.search(marked, week_cell(page, "08:00", 3))


def test_an_officer_sees_nothing_of_another_ward(officer):
    make_broadcast(local(4, 8), ("long-hung",), runs=[(local(4, 8), RunState.SCHEDULED)], title="Riêng Long Hưng")
    make_broadcast(local(4, 9), ("thoi-hoa", "long-hung"), runs=[(local(4, 9), RunState.SCHEDULED)], title="Chung")
    page = officer.get("/calendar").get_data(as_text=True)
    assert "Riêng Long Hưng" not in page and "long-hung" not in page and "Long Hưng" not in page
    assert "Chung" in week_cell(page, "09:00", 3), "a run shared with their ward shows, naming only theirs"
    assert officer.get("/calendar?ward=long-hung").status_code == 403


def test_the_page_links_the_readers_own_feeds_and_sits_in_the_menu(officer):
    page = officer.get("/calendar").get_data(as_text=True)
    assert re.search(r'href="http://localhost/calendar/thoi-hoa\.ics\?key=[^"]+"', page)
    assert '<a href="/calendar">' in re.search(r"<nav.*?</nav>", page, re.S).group(0)


def test_the_day_field_is_typed_dd_mm_yyyy_and_its_links_stay_iso(officer):
    typed = officer.get("/calendar?view=day&date=07/03/2027").get_data(as_text=True)
    assert "Chủ Nhật, 07/03/2027" in typed and 'name="date" value="07/03/2027"' in typed
    assert 'href="/calendar?view=day&amp;date=2027-03-08"' in typed, "the next day"
    assert 'name="date" value="07/03/2027"' in officer.get("/calendar?view=day&date=2027-03-07").get_data(
        as_text=True), "a bookmark"


@pytest.mark.parametrize("query", ["?view=month", "?date=31/02/2027", "?date=03/13/2027", "?date=2027-02-30",
                                   "?ward=" + "x" * 40])
def test_a_request_it_cannot_read_is_refused_with_a_reason(officer, query):
    answer = officer.get(f"/calendar{query}")
    assert answer.status_code == 422 and 'class="flash error"' in answer.get_data(as_text=True)


def test_a_broadcast_not_yet_approved_is_shown_as_such_not_as_planned(officer):
    """The officer sees their item in its slot and that it will not sound until approved; an approved occurrence
    the planner has not reached yet reads "chưa lên lượt"."""
    make_broadcast(local(4, 10), title="Họp tổ dân phố", approval=ApprovalState.SUBMITTED)
    make_broadcast(local(5, 10), title="Lịch tiêm chủng")
    page = officer.get("/calendar?date=2027-03-03").get_data(as_text=True)
    waiting, approved = week_cell(page, "10:00", 3), week_cell(page, "10:00", 4)
    assert "Họp tổ dân phố" in waiting and "<strong>Chờ duyệt</strong>" in waiting
    assert "chưa lên lượt" not in waiting
    assert "Lịch tiêm chủng" in approved and "chưa lên lượt" in approved and "Chờ duyệt" not in approved
