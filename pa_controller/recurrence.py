"""When a broadcast sounds: one-off or an RFC 5545 rule evaluated in Asia/Ho_Chi_Minh, minus excluded dates.

Rules are expanded on local wall time. Vietnam has kept UTC+07:00 without daylight saving since 1975, so a
local wall time maps to exactly one instant and "05:30 every day" is 22:30 UTC the day before, always.
"""

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from dateutil.rrule import DAILY, MONTHLY, WEEKLY, YEARLY, rrule, rrulestr

from pa_controller.clock import LOCAL_ZONE
from pa_controller.errors import ValidationFailed

ALLOWED_FREQUENCIES = {DAILY, WEEKLY, MONTHLY, YEARLY}
MAX_PER_DAY = 24  # at most one run an hour on average, within any planning horizon
MAX_CANDIDATES = 10_000  # occurrences examined while looking ahead, so no rule can spin
MAX_EXDATES = 366
FEASIBLE_WITHIN_D = 4 * 366  # every valid rule occurs within 4 years (a 29th of February)
_UNTIL = re.compile(r"UNTIL=([0-9TZ]+)", re.IGNORECASE)


def _invalid(message: str, reason: str = "invalid") -> ValidationFailed:
    return ValidationFailed(message, fields={"rrule": reason})


def _local_until(value: str) -> str:
    """Return an UNTIL value as local wall time: a UTC time (…Z) converted, a bare date read as its whole day.

    RFC 5545 wants UNTIL in UTC when DTSTART has a zone; officers write local dates. Both are accepted.
    """
    text = value.upper()
    try:
        if text.endswith("Z"):
            moment = datetime.strptime(text, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).astimezone(LOCAL_ZONE)
            return moment.strftime("%Y%m%dT%H%M%S")
        if len(text) == 8:
            return datetime.strptime(text, "%Y%m%d").strftime("%Y%m%dT235959")
        return datetime.strptime(text, "%Y%m%dT%H%M%S").strftime("%Y%m%dT%H%M%S")
    except (ValueError, OverflowError):
        raise _invalid(f"UNTIL={value} is not a date (YYYYMMDD) or time (YYYYMMDDTHHMMSS[Z])") from None


_FAR = datetime(9000, 1, 1, tzinfo=UTC)


def _wall(moment: datetime) -> datetime:
    return moment.astimezone(LOCAL_ZONE).replace(tzinfo=None)


def _instant(wall: datetime) -> datetime:
    return wall.replace(tzinfo=LOCAL_ZONE).astimezone(UTC)


def parse_rule(text: str, start_at: datetime) -> rrule:
    """Return the rule anchored at start_at's local wall time, or raise ValidationFailed.

    Announcements repeat daily, weekly, monthly or yearly (with BYHOUR and friends for several times a day);
    sub-daily frequencies are refused, because a rule such as FREQ=SECONDLY would flood every cluster.
    """
    text = text.strip()
    if text.upper().startswith("RRULE:"):
        text = text[6:]
    if not text or "\n" in text or "DTSTART" in text.upper():
        raise _invalid("rrule must be a single RRULE line")
    if "BYSECOND" in text.upper():
        raise _invalid("rrule may not use BYSECOND: announcements start on the minute", "too_often")
    text = _UNTIL.sub(lambda m: "UNTIL=" + _local_until(m.group(1)), text)
    try:
        parsed = rrulestr(text, dtstart=_wall(start_at))
    except (ValueError, TypeError, OverflowError, IndexError) as exc:
        raise _invalid(f"rrule is not a valid RFC 5545 rule: {exc}") from exc
    if not isinstance(parsed, rrule):
        raise _invalid("rrule must be a single RRULE line")
    if parsed._freq not in ALLOWED_FREQUENCIES or parsed._interval < 1:
        raise _invalid("rrule must repeat DAILY, WEEKLY, MONTHLY or YEARLY with INTERVAL of at least 1; "
                       "use BYHOUR/BYMINUTE for several times a day", "frequency")
    if len(parsed._byhour or ()) * len(parsed._byminute or ()) > MAX_PER_DAY:
        raise _invalid(f"rrule asks for more than {MAX_PER_DAY} runs a day", "too_often")
    _require_feasible(parsed, text.upper())
    return parsed


def _require_feasible(parsed: rrule, text: str) -> None:
    """Refuse a rule whose day filters never match (30 February), before dateutil spends seconds finding out.

    dateutil checks UNTIL only on a match, so a rule that never matches is searched up to the year 9999: at a
    daily step, millions of days. Searching month by month is fast and finds the same days for these rules.
    """
    if parsed._freq == DAILY and parsed._interval > 1 and ("BYMONTH" in text or "BYDAY" in text):
        raise _invalid("a DAILY rule with INTERVAL cannot also pick months or days; use WEEKLY or MONTHLY")
    every_day = {} if parsed._original_rule.get("bymonthday") or parsed._original_rule.get("byweekday") else {
        "bymonthday": list(range(1, 32))}
    horizon = parsed._dtstart + timedelta(days=FEASIBLE_WITHIN_D)
    probe = parsed.replace(freq=min(parsed._freq, MONTHLY), interval=1 if parsed._freq != MONTHLY else parsed._interval,
                           count=None, until=horizon, **every_day)
    if probe.after(parsed._dtstart, inc=True) is None:
        raise _invalid(f"rrule has no occurrence within {FEASIBLE_WITHIN_D // 365} years of its start", "never")


def parse_exdates(values, name: str = "exdates") -> frozenset[date]:
    """Return local dates (holidays, blackout dates) from a list of YYYY-MM-DD strings, or raise ValidationFailed."""
    if values is None:
        return frozenset()
    if not isinstance(values, list) or len(values) > MAX_EXDATES or not all(isinstance(v, str) for v in values):
        raise ValidationFailed(f"{name} must be a list of at most {MAX_EXDATES} dates (YYYY-MM-DD)",
                               fields={name: "invalid"})
    try:
        if any(len(v) != 10 for v in values):
            raise ValueError
        return frozenset(date.fromisoformat(v) for v in values)
    except ValueError:
        raise ValidationFailed(f"{name} must be dates written YYYY-MM-DD", fields={name: "invalid"}) from None


@dataclass(frozen=True)
class Schedule:
    """The times of a broadcast: a first start, an optional rule and end, and local dates to skip."""

    start_at: datetime
    rule: str | None = None
    until: datetime | None = None
    exdates: frozenset[date] = field(default_factory=frozenset)

    def __post_init__(self):
        if self.rule is not None:
            # RFC 5545 times have whole seconds; dateutil drops the fraction, and so must the first start.
            object.__setattr__(self, "start_at", self.start_at.replace(microsecond=0))
            object.__setattr__(self, "_rule", parse_rule(self.rule, self.start_at))

    def occurrences(self, after: datetime, before: datetime) -> Iterator[datetime]:
        """Yield start times (UTC) with after <= t < before, in order."""
        if self.rule is None:
            candidates = iter([self.start_at]) if after <= self.start_at else iter(())
        else:
            rule = self._rule
            if rule._count is None:  # stop the search at `before`, however sparse the rule
                rule = rule.replace(until=min(rule._until or datetime.max, _wall(min(before, _FAR))))
            walls = rule.xafter(_wall(max(after, self.start_at)), count=MAX_CANDIDATES, inc=True)
            candidates = (_instant(w) for w in walls)
        for moment in candidates:
            if moment >= before or (self.until is not None and moment > self.until):
                return
            if moment.astimezone(LOCAL_ZONE).date() not in self.exdates:
                yield moment

    def next(self, after: datetime, limit: int = 5) -> list[datetime]:
        """Return up to `limit` occurrences from `after` on."""
        found = []
        for moment in self.occurrences(after, datetime.max.replace(tzinfo=UTC) - timedelta(days=2)):
            found.append(moment)
            if len(found) == limit:
                break
        return found


def local_day_bounds(day: date) -> tuple[datetime, datetime]:
    """Return the UTC instants where a local calendar day begins and ends."""
    start = datetime.combine(day, time(0), LOCAL_ZONE).astimezone(UTC)
    return start, start + timedelta(days=1)
