"""Per-ward guardrails for non-emergency broadcasts: quiet hours, sessions a day, minutes a session, days.

An emergency ignores them (Thông tư 39). A proposal that breaks one is refused with the reason; an
administrator may set them aside with a recorded reason.
"""

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from flask_babel import lazy_gettext as _
from sqlalchemy import select

from pa_controller import clock, settings
from pa_controller.clock import LOCAL_ZONE
from pa_controller.domain import Role
from pa_controller.errors import NotFound, ValidationFailed
from pa_controller.extensions import db
from pa_controller.models import User, Ward, WardRules
from pa_controller.recurrence import parse_exdates
from pa_controller.services import access, audit
from pa_controller.services.timetable import Booking, Slot
from pa_protocol import Priority

WEEKDAYS = {1: _("thứ Hai"), 2: _("thứ Ba"), 3: _("thứ Tư"), 4: _("thứ Năm"), 5: _("thứ Sáu"), 6: _("thứ Bảy"),
            7: _("Chủ nhật")}


@dataclass(frozen=True)
class Rules:
    quiet: tuple[time, time] | None = None
    max_sessions_per_day: int | None = None
    max_session_minutes: int | None = None
    weekdays: frozenset[int] | None = None  # ISO weekdays allowed; None: all
    blackout_dates: frozenset[date] = field(default_factory=frozenset)
    approval_required: bool = True  # the ward's officers' broadcasts wait for an approver (kept on its Ward)

    @classmethod
    def of(cls, row: WardRules | None, approval_required: bool = True) -> "Rules":
        if row is None:
            return cls(quiet=settings.current().quiet_hours,  # the district default
                       approval_required=approval_required)
        return cls(approval_required=approval_required,
            quiet=(row.quiet_start, row.quiet_end) if row.quiet_start and row.quiet_end else None,
            max_sessions_per_day=row.max_sessions_per_day, max_session_minutes=row.max_session_minutes,
            weekdays=frozenset(row.weekdays) if row.weekdays is not None else None,
            blackout_dates=parse_exdates(row.blackout_dates or []),
        )

    def describe(self) -> dict:
        return {
            "quiet_hours": {"start": self.quiet[0].strftime("%H:%M"), "end": self.quiet[1].strftime("%H:%M")}
            if self.quiet else None,
            "max_sessions_per_day": self.max_sessions_per_day, "max_session_minutes": self.max_session_minutes,
            "weekdays": sorted(self.weekdays) if self.weekdays is not None else None,
            "blackout_dates": sorted(d.isoformat() for d in self.blackout_dates),
            "approval_required": self.approval_required,
        }


def _local_date(moment: datetime) -> date:
    return moment.astimezone(LOCAL_ZONE).date()


def in_quiet_hours(slot: Slot, quiet: tuple[time, time]) -> bool:
    """True if any part of the slot falls in quiet hours, which may run across midnight (21:30–05:00)."""
    begins, ends = quiet
    day, last = _local_date(slot.start) - timedelta(days=1), _local_date(slot.end)
    while day <= last:
        start = datetime.combine(day, begins, LOCAL_ZONE)
        end = datetime.combine(day + timedelta(days=1) if ends <= begins else day, ends, LOCAL_ZONE)
        if start < slot.end and slot.start < end:
            return True
        day += timedelta(days=1)
    return False


def rules_for(ward_ids) -> dict[str, Rules]:
    query = select(Ward.id, Ward.approval_required).where(Ward.id.in_(list(ward_ids)))
    required = dict(db.session.execute(query).all())
    return {w: Rules.of(db.session.get(WardRules, w), required.get(w, True)) for w in ward_ids}


def violations(priority: Priority, ward_ids, ours: list[Slot], others: list[Booking]) -> list[dict]:
    """Return each (ward, rule) the proposed slots break, with the first time and how many runs break it."""
    if priority is Priority.EMERGENCY:
        return []
    found: dict[tuple[str, str], dict] = {}

    def note(ward: str, rule: str, slot: Slot, message: str) -> None:
        entry = found.setdefault((ward, rule), {"ward": ward, "rule": rule, "start_at": slot.start,
                                                "occurrences": 0, "message": message})
        entry["occurrences"] += 1

    names = Ward.names(ward_ids)
    for ward, rules in sorted(rules_for(ward_ids).items()):
        name = names.get(ward, ward)
        sessions = Counter()
        if rules.max_sessions_per_day is not None:
            for booking in others:
                if ward in booking.ward_ids and booking.broadcast.priority is not Priority.EMERGENCY:
                    sessions.update(_local_date(s.start) for s in booking.slots)
        for slot in ours:
            day = _local_date(slot.start)
            if rules.quiet and in_quiet_hours(slot, rules.quiet):
                quiet = "–".join(t.strftime("%H:%M") for t in rules.quiet)
                note(ward, "quiet_hours", slot, _("%(ward)s: không phát trong giờ yên tĩnh %(quiet)s", ward=name,
                                                  quiet=quiet))
            if day in rules.blackout_dates:
                note(ward, "blackout_date", slot, _("%(ward)s: ngày %(day)s là ngày cấm phát", ward=name,
                                                    day=day.strftime("%d/%m/%Y")))
            if rules.weekdays is not None and day.isoweekday() not in rules.weekdays:
                note(ward, "weekday", slot, _("%(ward)s: không phát vào %(weekday)s", ward=name,
                                              weekday=WEEKDAYS[day.isoweekday()]))
            minutes = rules.max_session_minutes
            if minutes is not None and slot.end - slot.start > timedelta(minutes=minutes):
                note(ward, "session_length", slot, _("%(ward)s: mỗi buổi phát dài nhiều nhất %(n)s phút", ward=name,
                                                     n=minutes))
            if rules.max_sessions_per_day is not None:
                sessions[day] += 1
                if sessions[day] > rules.max_sessions_per_day:
                    note(ward, "sessions_per_day", slot, _("%(ward)s: nhiều nhất %(n)s buổi phát một ngày",
                                                           ward=name, n=rules.max_sessions_per_day))
    return sorted(found.values(), key=lambda v: (v["start_at"], v["ward"], v["rule"]))


def _clock_time(value: str, name: str) -> time:
    try:
        return time.fromisoformat(value)
    except ValueError:
        raise ValidationFailed(_("%(name)s phải là giờ viết dạng HH:MM, ví dụ 21:30.", name=name),
                               fields={name: "invalid"}) from None


def get_rules(user: User, ward_id: str) -> Rules:
    if db.session.get(Ward, ward_id) is None:
        raise NotFound(_("Không có phường mang mã %(id)s.", id=ward_id))
    access.require_wards(user, {ward_id})
    return rules_for([ward_id])[ward_id]


def set_rules(user: User, ward_id: str, data: dict) -> Rules:
    """Replace a ward's rules (administrators only); a key left out means no such rule, but for
    `approval_required`, which left out stays as it is (no PUT of quiet hours can switch approval off unseen).

    `data` is the API's WardRules, already of the right types; this checks what it means.
    """
    access.require_role(user, Role.ADMIN)
    before = get_rules(user, ward_id).describe()
    quiet = data.get("quiet_hours")
    if quiet is not None:
        quiet = (_clock_time(quiet["start"], "quiet_hours.start"), _clock_time(quiet["end"], "quiet_hours.end"))
        if quiet[0] == quiet[1]:
            raise ValidationFailed(_("Giờ yên tĩnh phải bắt đầu và kết thúc ở hai giờ khác nhau."),
                                   fields={"quiet_hours": "empty"})
    weekdays = data.get("weekdays")
    blackout = parse_exdates(data.get("blackout_dates") or [], "blackout_dates")
    sessions, minutes = data.get("max_sessions_per_day"), data.get("max_session_minutes")
    row = db.session.get(WardRules, ward_id) or WardRules(ward_id=ward_id)
    row.quiet_start, row.quiet_end = quiet or (None, None)
    row.max_sessions_per_day, row.max_session_minutes = sessions, minutes
    row.weekdays = sorted(set(weekdays)) if weekdays is not None else None
    row.blackout_dates = sorted(d.isoformat() for d in blackout)
    row.updated_by, row.updated_at = user.id, clock.now()
    db.session.add(row)
    ward = db.session.get(Ward, ward_id)
    if data.get("approval_required") is not None:
        ward.approval_required = data["approval_required"]
    rules = Rules.of(row, ward.approval_required)
    old, new = audit.changed(before, rules.describe())
    audit.record("ward.rules", f"ward:{ward_id}", ward_id=ward_id, before=old, after=new)
    db.session.commit()
    return rules
