"""Jinja filters: times in Asia/Ho_Chi_Minh, JSON-friendly values."""

from datetime import date, datetime

from flask_babel.speaklater import LazyString

from pa_controller.clock import LOCAL_ZONE
from pa_controller.web.local_dates import PATTERNS, show_day
from pa_protocol import format_time


def local_time(moment: datetime | date | None, fmt: str = "%H:%M:%S %d/%m/%Y") -> str:
    """A moment as Vietnam reads it; a calendar day (already local) is only formatted."""
    if moment is None:
        return "—"
    return (moment.astimezone(LOCAL_ZONE) if isinstance(moment, datetime) else moment).strftime(fmt)


def utc(moment: datetime | None) -> str | None:
    """Render a time for the API: RFC 3339 UTC."""
    return None if moment is None else format_time(moment)


def jsonable(value):
    """Return a value with every time in it rendered for the API, ready for jsonify."""
    if isinstance(value, datetime):
        return utc(value)
    if isinstance(value, LazyString):  # a message, rendered in the request's language
        return str(value)
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def register_filters(app) -> None:
    from pa_controller.web.labels import audit_action, command_label, label, run_reason

    app.jinja_env.globals["date_patterns"] = PATTERNS  # the date fields' `pattern` (templates/date_macros.html)
    app.add_template_filter(local_time, "local")
    app.add_template_filter(show_day, "show_day")  # a day in a form's field: dd/mm/yyyy, empty for none
    app.add_template_filter(utc, "utc")  # for machine-read attributes: <time datetime>
    app.add_template_filter(label, "label")
    app.add_template_filter(command_label, "command_label")
    app.add_template_filter(run_reason, "run_reason")
    app.add_template_filter(audit_action, "audit_action")
    app.add_template_filter(lambda ward_id, names: names.get(ward_id, ward_id), "ward_name")
