"""The one reader of typed days, start times and months: Vietnamese order and ISO, the calendar checked."""

import re
from datetime import date, datetime

import pytest

from pa_controller.web.local_dates import PATTERNS, parse_day, parse_moment, parse_month, show_day


@pytest.mark.parametrize(("text", "day"), [
    ("31/12/2026", date(2026, 12, 31)),
    ("05/01/2027", date(2027, 1, 5)),  # day first: 5 January, never 1 May
    ("5/1/2027", date(2027, 1, 5)),
    (" 29/02/2028 ", date(2028, 2, 29)),
    ("05.01.2027", date(2027, 1, 5)),
    ("05-01-2027", date(2027, 1, 5)),
    ("2027-01-05", date(2027, 1, 5)),  # ISO: links, bookmarks
])
def test_a_day_is_read_in_vietnamese_order_or_iso(text, day):
    assert parse_day(text) == day


@pytest.mark.parametrize("text", [
    "", "   ", "31/02/2027", "29/02/2027", "32/01/2027", "00/01/2027", "01/13/2027", "2027-13-01", "2027-02-30",
    "01/01/27", "2027/01/05", "2027-1-5", "05/01/2027 05:30", "yesterday", "٠٥/٠١/٢٠٢٧", "05/01/2027\x00", None,
])
def test_a_day_the_calendar_lacks_or_another_shape_is_refused(text):
    with pytest.raises(ValueError):
        parse_day(text)


@pytest.mark.parametrize(("text", "moment"), [
    ("05/01/2027 17:30", datetime(2027, 1, 5, 17, 30)),
    ("5/1/2027 7:05", datetime(2027, 1, 5, 7, 5)),
    ("05/01/2027, 17h30", datetime(2027, 1, 5, 17, 30)),
    ("31/12/2026 23:59", datetime(2026, 12, 31, 23, 59)),
    ("05/01/2027 00:00", datetime(2027, 1, 5, 0, 0)),
    ("2027-01-05T17:30", datetime(2027, 1, 5, 17, 30)),  # what the form sent before, and the API's local time
    ("2027-01-05T17:30:15", datetime(2027, 1, 5, 17, 30, 15)),
])
def test_a_start_is_read_on_a_24_hour_clock(text, moment):
    assert parse_moment(text) == moment


@pytest.mark.parametrize("text", [
    "", "05/01/2027", "05/01/2027 24:00", "05/01/2027 17:60", "05/01/2027 5:30 PM", "31/02/2027 08:00",
    "2027-13-01T08:00", "2027-01-05T24:00", "2027-01-05T08:00+07:00", "17:30", "now",
])
def test_a_start_not_on_the_calendar_or_clock_is_refused(text):
    with pytest.raises(ValueError):
        parse_moment(text)


@pytest.mark.parametrize(("text", "month"), [("12/2026", (2026, 12)), ("1/2027", (2027, 1)), ("2026-12", (2026, 12))])
def test_a_month_is_read_as_month_and_year(text, month):
    assert parse_month(text) == month


@pytest.mark.parametrize("text", ["", "13/2026", "00/2026", "2026-13", "2026-00", "12/26", "2026/12", "12-2026x"])
def test_another_month_is_refused(text):
    with pytest.raises(ValueError):
        parse_month(text)


def test_a_day_is_shown_as_it_is_read():
    assert show_day(date(2027, 1, 5)) == "05/01/2027" and show_day(None) == ""
    assert parse_day(show_day(date(2027, 1, 5))) == date(2027, 1, 5)


@pytest.mark.parametrize(("kind", "good", "bad"), [
    ("day", ["31/12/2026", "5/1/2027", "2027-01-05"], ["2027/01/05", "01/13/2027", "12/31/26", ""]),
    ("moment", ["05/01/2027 17:30", "5/1/2027 7h05", "2027-01-05T17:30"], ["05/01/2027 24:00", "05/01/2027 5:30 PM",
                                                                           "05/01/2027"]),
    ("month", ["12/2026", "1/2027", "2026-12"], ["13/2026", "2026-13", "12/26"]),
])
def test_the_fields_patterns_let_through_what_the_server_reads(kind, good, bad):
    """A field's `pattern` is matched whole, as the browser does; the server is the judge of the calendar."""
    pattern = re.compile(PATTERNS[kind])
    assert all(pattern.fullmatch(text) for text in good)
    assert not any(pattern.fullmatch(text) for text in bad)
