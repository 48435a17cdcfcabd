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
