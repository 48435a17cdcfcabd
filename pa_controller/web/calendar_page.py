"""`/calendar`: a week or a day of broadcasts at their local times, for one ward or all the reader's."""

from dataclasses import dataclass
from datetime import date, timedelta

from flask import Blueprint, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required

from pa_controller import clock
from pa_controller.domain import ApprovalState
from pa_controller.services import access, broadcast_calendar, fleet
from pa_controller.services.broadcast_calendar import Entry
from pa_controller.web.apidoc import load
from pa_controller.web.calendar import feed_key
from pa_controller.web.schemas.requests import CalendarQuery
from pa_protocol import Priority

bp = Blueprint("calendar_page", __name__)
DAY_NAMES = (_l("Thứ Hai"), _l("Thứ Ba"), _l("Thứ Tư"), _l("Thứ Năm"), _l("Thứ Sáu"), _l("Thứ Bảy"), _l("Chủ Nhật"))
MARKS = {Priority.NORMAL: "●", Priority.PRIORITY: "▲", Priority.EMERGENCY: "⚠"}  # a shape as well as a colour


@dataclass(frozen=True)
class Day:
    day: date
    entries: list[Entry]

    @property
    def name(self) -> str:
        return str(DAY_NAMES[self.day.weekday()])


def _local_day(entry: Entry) -> date:
    return entry.start.astimezone(clock.LOCAL_ZONE).date()


def _hours(days: list[Day]) -> list[tuple[int, list[list[Entry]]]]:
    """The week's grid: each local hour with a run, and what starts in it on each day."""
    hours = sorted({e.start.astimezone(clock.LOCAL_ZONE).hour for d in days for e in d.entries})
    return [(hour, [[e for e in d.entries if e.start.astimezone(clock.LOCAL_ZONE).hour == hour] for d in days])
            for hour in hours]


def _feeds(wards) -> list[tuple[str, str]]:
    """The reader's own .ics links, one per ward shown."""
    return [(ward.name, url_for("calendar.ward_calendar", ward_id=ward.id, key=feed_key(current_user, ward.id),
                                _external=True)) for ward in wards]


@bp.get("/calendar")
@login_required
def calendar_page():
    query = load(CalendarQuery(), request.args)
    now = clock.now()
    today = now.astimezone(clock.LOCAL_ZONE).date()
    shown = query["day"] or today
    first, length = (shown - timedelta(days=shown.weekday()), 7) if query["view"] == "week" else (shown, 1)
    ward = query["ward"]
    found = broadcast_calendar.entries(current_user, ward, first, length, now)
    days = [Day(first + timedelta(days=i), []) for i in range(length)]
    for entry in found:
        days[(_local_day(entry) - first).days].entries.append(entry)
    wards = fleet.wards_for(access.ward_scope(current_user))
    step = timedelta(days=length)
    links = {name: url_for("calendar_page.calendar_page", view=query["view"], date=moment.isoformat(), ward=ward)
             for name, moment in (("prev", shown - step), ("next", shown + step), ("today", today))}
    return render_template("calendar.html", view=query["view"], days=days, hours=_hours(days), ward=ward,
                           wards=wards, shown=shown, today=today, links=links, marks=MARKS, priorities=list(Priority),
                           feeds=_feeds([w for w in wards if ward is None or w.id == ward]),
                           ward_names={w.id: w.name for w in wards}, approved=ApprovalState.APPROVED)
