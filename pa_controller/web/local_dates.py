"""Days, start times and months as an officer types them in a form, the one place they are read.

Vietnam writes day/month/year and a 24-hour clock: 31/12/2026, 05/01/2027 17:30, 12/2026. The form fields are text
(a native date field shows the browser's locale: mm/dd/yyyy and AM/PM on an English PC), so the server reads what
is typed. It also reads ISO 8601 (2026-12-31, 2027-01-05T17:30, 2026-12), which links, bookmarks and the API write.
Every value is a local wall time in Asia/Ho_Chi_Minh; the callers attach the zone.
"""

import re
from datetime import date, datetime

DAY_SHOWN = "%d/%m/%Y"
MOMENT_SHOWN = "%d/%m/%Y %H:%M"
ISO_MOMENT = "%Y-%m-%dT%H:%M"  # what the API's start_at takes without an offset: a local time

# Vietnamese order: day and month of one or two digits; / as written, also . or - (a phone's number pad)
_SEP = r"(?:/|\.|-)"
_DAY = rf"(?P<d>[0-9]{{1,2}}){_SEP}(?P<m>[0-9]{{1,2}}){_SEP}(?P<y>[0-9]{{4}})"
_ISO_DAY = r"(?P<y>[0-9]{4})-(?P<m>[0-9]{2})-(?P<d>[0-9]{2})"
_CLOCK = r"(?P<H>[0-9]{1,2})(?::|h|H)(?P<M>[0-9]{2})"  # 17:30, also 17h30 as the times of day take it
_ISO_CLOCK = r"(?P<H>[0-9]{2}):(?P<M>[0-9]{2})(?::(?P<S>[0-9]{2}))?"
DAYS = (re.compile(_DAY), re.compile(_ISO_DAY))
MOMENTS = (re.compile(rf"{_DAY}(?:\s+|,\s*){_CLOCK}"), re.compile(rf"{_ISO_DAY}(?:T| ){_ISO_CLOCK}"))
MONTHS = (re.compile(rf"(?P<m>[0-9]{{1,2}}){_SEP}(?P<y>[0-9]{{4}})"), re.compile(r"(?P<y>[0-9]{4})-(?P<m>[0-9]{2})"))

# What the form fields' `pattern` attributes let through: the same shapes (the server checks the calendar);
# written without character classes holding / or -, which a pattern's `v` flag would refuse.
_D, _M = "(0?[1-9]|[12][0-9]|3[01])", "(0?[1-9]|1[0-2])"
_V_SEP = r"(/|\.|-)"
_V_CLOCK = "([01]?[0-9]|2[0-3])(:|h|H)[0-5][0-9]"
PATTERNS = {
    "day": rf"\s*({_D}{_V_SEP}{_M}{_V_SEP}[0-9]{{4}}|[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}})\s*",
    "moment": (rf"\s*({_D}{_V_SEP}{_M}{_V_SEP}[0-9]{{4}}(\s+|,\s*){_V_CLOCK}"
               rf"|[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}(T| )[0-9]{{2}}:[0-9]{{2}}(:[0-9]{{2}})?)\s*"),
    "month": rf"\s*({_M}{_V_SEP}[0-9]{{4}}|[0-9]{{4}}-(0[1-9]|1[0-2]))\s*",
}


def _match(patterns, text) -> re.Match:
    if not isinstance(text, str):
        raise ValueError(f"{text!r} is not text")
    for pattern in patterns:
        if found := pattern.fullmatch(text.strip()):
            return found
    raise ValueError(f"{text[:40]!r} is not in a shape LoaNet reads")


def parse_day(text: str) -> date:
    """A calendar day, 31/12/2026 or 2026-12-31; raise ValueError for another shape or a day the calendar lacks."""
    found = _match(DAYS, text)
    return date(int(found["y"]), int(found["m"]), int(found["d"]))


def parse_moment(text: str) -> datetime:
    """A local wall time (naive), 05/01/2027 17:30 or 2027-01-05T17:30; raise ValueError otherwise (24:00 too)."""
    found = _match(MOMENTS, text)
    return datetime(int(found["y"]), int(found["m"]), int(found["d"]), int(found["H"]), int(found["M"]),
                    int(found.groupdict().get("S") or 0))


def parse_month(text: str) -> tuple[int, int]:
    """A month as (year, month), 12/2026 or 2026-12; raise ValueError otherwise."""
    found = _match(MONTHS, text)
    year, month = int(found["y"]), int(found["m"])
    if not 1 <= month <= 12:
        raise ValueError(f"{text[:40]!r}: no month {month}")
    return year, month


def show_day(day: date | None) -> str:
    """A day as the form shows it; none: an empty field."""
    return "" if day is None else day.strftime(DAY_SHOWN)
