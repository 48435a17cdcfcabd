"""When a broadcast sounds: one-off or an RFC 5545 rule evaluated in Asia/Ho_Chi_Minh, minus excluded dates.

Rules are expanded on local wall time. Vietnam has kept UTC+07:00 without daylight saving since 1975, so a
local wall time maps to exactly one instant and "05:30 every day" is 22:30 UTC the day before, always.

A rule's BYHOUR and BYMINUTE multiply (BYHOUR=5,17;BYMINUTE=30 is 05:30 and 17:30), so "05:30 and 17:00 every
day" is not one rule: a schedule may instead list its times of day, and the rule then picks the days.
"""

import heapq
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from dateutil.rrule import DAILY, MONTHLY, WEEKLY, YEARLY, rrule, rrulestr
from flask_babel import lazy_gettext as _

from pa_controller.clock import LOCAL_ZONE
from pa_controller.errors import ValidationFailed

ALLOWED_FREQUENCIES = {DAILY, WEEKLY, MONTHLY, YEARLY}
MAX_PER_DAY = 24  # at most one run an hour on average, within any planning horizon
MAX_CANDIDATES = 10_000  # occurrences examined while looking ahead, so no rule can spin
MAX_EXDATES = 366
FEASIBLE_WITHIN_D = 4 * 366  # every valid rule occurs within 4 years (a 29th of February)
RULE_PARTS = {"FREQ", "INTERVAL", "COUNT", "UNTIL", "BYDAY", "BYMONTHDAY", "BYYEARDAY", "BYWEEKNO", "BYMONTH",
              "BYSETPOS", "BYHOUR", "BYMINUTE", "BYSECOND", "WKST"}
EXAMPLE_RULE = "FREQ=DAILY;BYHOUR=5;BYMINUTE=30"
_UNTIL = re.compile(r"UNTIL=([0-9TZ]+)", re.IGNORECASE)
TIMES_SHAPE = _("Các giờ phát phải là danh sách giờ:phút, ví dụ [\"05:30\", \"17:00\"], nhiều nhất %(n)s giờ.",
                n=MAX_PER_DAY)
EXDATES_SHAPE = _("Các ngày trừ ra phải là danh sách ngày YYYY-MM-DD (ví dụ 2027-01-01), nhiều nhất %(n)s ngày.",
                  n=MAX_EXDATES)
_TIME_OF_DAY = re.compile(r"^([01]?\d|2[0-3])[:hH]([0-5]\d)$")


def _invalid(message, reason: str = "invalid", name: str = "rrule") -> ValidationFailed:
    return ValidationFailed(message, fields={name: reason})


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
        raise _invalid(_("UNTIL=%(value)s không phải một ngày (YYYYMMDD) hay một thời điểm (YYYYMMDDTHHMMSS); "
                         "ví dụ UNTIL=20271231.", value=value)) from None


_FAR = datetime(9000, 1, 1, tzinfo=UTC)


def _wall(moment: datetime) -> datetime:
    return moment.astimezone(LOCAL_ZONE).replace(tzinfo=None)


def _instant(wall: datetime) -> datetime:
    return wall.replace(tzinfo=LOCAL_ZONE).astimezone(UTC)


def _unreadable_part(text: str):
    """Name the part of a rule dateutil cannot read, in words a person can act on."""
    for part in text.split(";"):
        name, sep, value = part.partition("=")
        name = name.strip().upper()
        if not sep or not name or not value.strip():
            return _("phần “%(part)s” phải có dạng TÊN=GIÁ TRỊ", part=part)
        if name not in RULE_PARTS:
            return _("không có phần tên là %(name)s", name=name)
        if name != "FREQ":
            try:
                rrulestr(f"FREQ=DAILY;{part}", dtstart=datetime(2026, 1, 1))
            except (ValueError, TypeError, OverflowError, IndexError):
                return _("giá trị của %(name)s không hợp lệ: %(value)s", name=name, value=value)
    if "FREQ" not in {p.partition("=")[0].strip().upper() for p in text.split(";")}:
        return _("thiếu FREQ (DAILY, WEEKLY, MONTHLY hoặc YEARLY)")
    return _("FREQ phải là DAILY, WEEKLY, MONTHLY hoặc YEARLY")


def parse_rule(text: str, start_at: datetime) -> rrule:
    """Return the rule anchored at start_at's local wall time, or raise ValidationFailed.

    Announcements repeat daily, weekly, monthly or yearly; sub-daily frequencies are refused, because a rule
    such as FREQ=SECONDLY would flood every cluster.
    """
    text = text.strip()
    if text.upper().startswith("RRULE:"):
        text = text[6:]
    if not text or "\n" in text or "DTSTART" in text.upper():
        raise _invalid(_("Quy tắc lặp lại phải là một dòng RRULE, ví dụ %(example)s.", example=EXAMPLE_RULE))
    text = _UNTIL.sub(lambda m: "UNTIL=" + _local_until(m.group(1)), text)
    try:
        parsed = rrulestr(text, dtstart=_wall(start_at))
    except (ValueError, TypeError, OverflowError, IndexError):
        raise _invalid(_("Quy tắc lặp lại không đọc được: %(why)s. Ví dụ một quy tắc đúng: %(example)s.",
                         why=_unreadable_part(text), example=EXAMPLE_RULE)) from None
    if not isinstance(parsed, rrule):
        raise _invalid(_("Quy tắc lặp lại phải là một dòng RRULE, ví dụ %(example)s.", example=EXAMPLE_RULE))
    if parsed._freq not in ALLOWED_FREQUENCIES or parsed._interval < 1:
        raise _invalid(_("Chỉ lặp lại theo ngày, tuần, tháng hoặc năm (FREQ=DAILY, WEEKLY, MONTHLY, YEARLY), "
                         "INTERVAL từ 1 trở lên; muốn phát nhiều lần trong ngày, hãy ghi các giờ phát."), "frequency")
    if set(parsed._original_rule.get("bysecond") or ()) - {0}:
        raise _invalid(_("Bản tin bắt đầu vào đầu phút: BYSECOND chỉ có thể là 0."), "too_often")
    if len(parsed._byhour or ()) * len(parsed._byminute or ()) > MAX_PER_DAY:
        raise _invalid(_("Quy tắc này phát hơn %(n)s lần một ngày.", n=MAX_PER_DAY), "too_often")
    _require_feasible(parsed, text.upper())
    return parsed


def _require_feasible(parsed: rrule, text: str) -> None:
    """Refuse a rule whose day filters never match (30 February), before dateutil spends seconds finding out.

    dateutil checks UNTIL only on a match, so a rule that never matches is searched up to the year 9999: at a
    daily step, millions of days. Searching month by month is fast and finds the same days for these rules.
    """
    if parsed._freq == DAILY and parsed._interval > 1 and ("BYMONTH" in text or "BYDAY" in text):
        raise _invalid(_("Quy tắc DAILY có INTERVAL không thể chọn thêm tháng hay thứ; hãy dùng WEEKLY hoặc "
                         "MONTHLY."))
    every_day = {} if parsed._original_rule.get("bymonthday") or parsed._original_rule.get("byweekday") else {
        "bymonthday": list(range(1, 32))}
    horizon = parsed._dtstart + timedelta(days=FEASIBLE_WITHIN_D)
    probe = parsed.replace(freq=min(parsed._freq, MONTHLY), interval=1 if parsed._freq != MONTHLY else parsed._interval,
                           count=None, until=horizon, **every_day)
    if probe.after(parsed._dtstart, inc=True) is None:
        raise _invalid(_("Quy tắc này không có lần phát nào trong %(n)s năm kể từ ngày bắt đầu (ví dụ ngày 30 "
                         "tháng 2).", n=FEASIBLE_WITHIN_D // 365), "never")


def parse_times(values) -> tuple[time, ...]:
    """Return the times of day a schedule lists ("05:30", "17:00"), sorted, or raise ValidationFailed."""
    if values is None or values == []:
        return ()
    how = TIMES_SHAPE
    if not isinstance(values, list) or len(values) > MAX_PER_DAY or not all(isinstance(v, str) for v in values):
        raise _invalid(how, name="times")
    found = set()
    for value in values:
        match = _TIME_OF_DAY.match(value.strip())
        if match is None:
            raise _invalid(_("“%(value)s” không phải giờ:phút (ví dụ 05:30 hoặc 17h00).", value=value[:20]),
                           name="times")
        found.add(time(int(match.group(1)), int(match.group(2))))
    return tuple(sorted(found))


def parse_exdates(values, name: str = "exdates") -> frozenset[date]:
    """Return local dates (holidays, blackout dates) from a list of YYYY-MM-DD strings, or raise ValidationFailed."""
    how = EXDATES_SHAPE
    if values is None:
        return frozenset()
    if not isinstance(values, list) or len(values) > MAX_EXDATES or not all(isinstance(v, str) for v in values):
        raise ValidationFailed(how, fields={name: "invalid"})
    try:
        if any(len(v) != 10 for v in values):
            raise ValueError
        return frozenset(date.fromisoformat(v) for v in values)
    except ValueError:
        raise ValidationFailed(how, fields={name: "invalid"}) from None


@dataclass(frozen=True)
class Schedule:
    """The times of a broadcast: a first start, an optional rule and end, times of day, and local dates to skip.

    With `times` the rule picks the days and each day sounds at every listed time; COUNT then counts days.
    """

    start_at: datetime
    rule: str | None = None
    until: datetime | None = None
    exdates: frozenset[date] = field(default_factory=frozenset)
    times: tuple[time, ...] = ()

    def __post_init__(self):
        if self.times and self.rule is None:
            raise _invalid(_("Muốn phát vào nhiều giờ trong ngày, hãy chọn cách lặp lại (ví dụ hằng ngày)."),
                           name="times")
        if self.rule is not None:
            # RFC 5545 times have whole seconds; dateutil drops the fraction, and so must the first start.
            object.__setattr__(self, "start_at", self.start_at.replace(microsecond=0))
            object.__setattr__(self, "_rules", self._expand(parse_rule(self.rule, self.start_at)))

    def _expand(self, parsed: rrule) -> tuple[rrule, ...]:
        """One rule, or one per time of day on the rule's days (anchored at the first day's midnight)."""
        if not self.times:
            return (parsed,)
        if parsed._original_rule.get("byhour") or parsed._original_rule.get("byminute"):
            raise _invalid(_("Đã ghi các giờ phát thì quy tắc lặp lại không dùng BYHOUR hay BYMINUTE nữa."),
                           name="times")
        midnight = parsed._dtstart.replace(hour=0, minute=0, second=0)
        return tuple(parsed.replace(dtstart=midnight, byhour=t.hour, byminute=t.minute, bysecond=0)
                     for t in self.times)

    def _walls(self, rule: rrule, after: datetime, before: datetime) -> Iterator[datetime]:
        if rule._count is None:  # stop the search at `before`, however sparse the rule
            rule = rule.replace(until=min(rule._until or datetime.max, _wall(min(before, _FAR))))
        return rule.xafter(_wall(max(after, self.start_at)), count=MAX_CANDIDATES, inc=True)

    def occurrences(self, after: datetime, before: datetime) -> Iterator[datetime]:
        """Yield start times (UTC) with after <= t < before, in order."""
        if self.rule is None:
            candidates = iter([self.start_at]) if after <= self.start_at else iter(())
        else:
            walls = heapq.merge(*(self._walls(rule, after, before) for rule in self._rules))
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
