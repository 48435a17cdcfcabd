"""Every page shows times as Vietnam reads them: dd/mm/yyyy, 24-hour, in Asia/Ho_Chi_Minh, in either language."""

import re

import pytest

from pa_controller.clock import LOCAL_ZONE

NOT_OURS = {
    "an ISO date": re.compile(r"\b\d{4}-\d{2}-\d{2}\b"),
    "a 12-hour clock": re.compile(r"\b\d{1,2}:\d{2}(:\d{2})?\s*(AM|PM|am|pm|SA|CH)\b"),
    "a date not dd/mm/yyyy": re.compile(r"\b(?!\d{2}/\d{2}/\d{4}\b)\d{1,4}/\d{1,2}/\d{2,4}\b"),
    "UTC": re.compile(r"\bUTC\b(?!\+7)|\bGMT\b"),
}


def odd_times(text: str) -> list[str]:
    return [f"{name}: {found.group(0)}" for name, pattern in NOT_OURS.items() for found in pattern.finditer(text)]


def test_the_check_knows_our_dates_from_others():
    assert odd_times("14:05:00 07/12/2026 · giờ UTC+7") == []
    assert odd_times("2026-12-07 2:05 PM 7/12/2026 12/7/26 07:05 UTC") == [
        "an ISO date: 2026-12-07", "a 12-hour clock: 2:05 PM", "a date not dd/mm/yyyy: 7/12/2026",
        "a date not dd/mm/yyyy: 12/7/26", "UTC: UTC"]


@pytest.mark.parametrize("language", ["vi", "en"])
def test_every_page_shows_dates_as_dd_mm_yyyy_24_hour(site, open_tab, language):
    tab = open_tab("admin", language=language)
    found = {}
    for path in site.pages():
        tab.open(path)
        if odd := odd_times(tab.page.inner_text("body")):
            found[path] = odd
    assert not found, "\n".join(f"{path}: {odd}" for path, odd in found.items())


def test_a_run_s_time_is_vietnam_s(site, open_tab):
    tab = open_tab("officer")
    tab.open(f"/runs/{site.scene.known['run_id']}")
    shown = tab.page.inner_text("main")
    start = site.scene.run_start
    assert start.astimezone(LOCAL_ZONE).strftime("%H:%M:%S %d/%m/%Y") in shown
    assert start.strftime("%H:%M:%S") not in shown, "the UTC time of day"


# The form fields of a day, a start time or a month: (page, field name, what it shows when nothing was asked).
DATE_FIELDS = [
    ("/broadcasts/new", "start_at", re.compile(r"^$")),
    ("/calendar", "date", re.compile(r"^\d{2}/\d{2}/\d{4}$")),
    ("/audit?since=2026-12-01", "since", re.compile(r"^01/12/2026$")),
    ("/audit", "until", re.compile(r"^$")),
    ("/broadcasts?from=2026-12-01", "from", re.compile(r"^01/12/2026$")),
    ("/broadcasts", "to", re.compile(r"^$")),
    ("/reports/airtime", "month", re.compile(r"^\d{2}/\d{4}$")),
]


@pytest.mark.parametrize(("path", "name", "shown"), DATE_FIELDS)
def test_a_date_field_reads_dd_mm_yyyy_in_an_english_browser_too(site, open_tab, path, name, shown):
    """Not a native date field, which an English browser shows mm/dd/yyyy with AM/PM: text, as Vietnam writes it."""
    tab = open_tab("admin", language="en")
    tab.open(path)
    field = tab.page.locator(f'input[name="{name}"]')
    assert field.get_attribute("type") == "text" and field.get_attribute("inputmode") == "numeric"
    assert shown.match(field.input_value()), field.input_value()
    hint = tab.page.locator(f'#{field.get_attribute("aria-describedby")}')
    assert hint.is_visible() and re.search(r"(day/)?month/year", hint.inner_text()), hint.inner_text()
    assert field.evaluate("e => e.labels.length") == 1, "named by its label"
    good, bad = {"start_at": ("05/01/2027 17:30", "05/01/2027 5:30 PM"),
                 "month": ("12/2026", "2026/12")}.get(name, ("31/12/2026", "12/31/26"))
    checks = []
    for typed in (good, bad):
        field.fill(typed)
        checks.append(field.evaluate("e => e.validity.patternMismatch"))
    assert checks == [False, True], "the pattern compiles in the browser and lets through only the shape it asks"


def test_a_day_typed_in_the_calendar_shows_that_day_and_its_neighbours(site, open_tab):
    tab = open_tab("officer", language="en")
    tab.open("/calendar?view=day")
    tab.page.locator('input[name="date"]').fill("05/01/2027")
    tab.page.get_by_role("button", name="Show").click()
    assert tab.page.locator("h2").first.inner_text().endswith("05/01/2027"), "5 January, never 1 May"
    assert tab.page.locator('input[name="date"]').input_value() == "05/01/2027"
    tab.page.get_by_role("link", name=re.compile("Next day")).click()
    assert tab.page.locator('input[name="date"]').input_value() == "06/01/2027"
