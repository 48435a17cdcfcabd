"""The scheduling form's fields, read into the same request body the API takes, and a broadcast read back into them."""

from datetime import date, timedelta

from flask_babel import lazy_gettext as _l
from werkzeug.datastructures import MultiDict

from pa_controller import clock
from pa_controller.clock import LOCAL_ZONE
from pa_controller.domain import ProgrammeKind
from pa_controller.errors import ValidationFailed
from pa_controller.web.local_dates import DAY_SHOWN, ISO_MOMENT, MOMENT_SHOWN, parse_day, parse_moment
from pa_protocol import Priority

REPEATS = {  # what an officer picks → the RFC 5545 rule it means
    "once": None,
    "daily": "FREQ=DAILY",
    "mon-sat": "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR,SA",  # the news relays' rhythm
    "mon-fri": "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR",
    "weekly": "FREQ=WEEKLY",
}
REPEAT_LABELS = {
    "once": _l("Một lần"), "daily": _l("Hằng ngày"), "mon-sat": _l("Thứ Hai đến Thứ Bảy"),
    "mon-fri": _l("Thứ Hai đến Thứ Sáu"), "weekly": _l("Hằng tuần"), "custom": _l("Quy tắc RRULE riêng"),
}
ONE_DAY = "FREQ=DAILY;COUNT=1"  # "once" at several times: those times on the first day only
MAX_TITLE = 200  # Broadcast.title
BAD_START = _l("Giờ phát viết dạng ngày/tháng/năm giờ:phút (24 giờ), ví dụ 05/01/2027 17:30.")


def _number(form: MultiDict, key: str) -> int | None:
    value = form.get(key, "").strip()
    return int(value) if value.isascii() and value.isdigit() and len(value) <= 6 else None


def number(value: str) -> int | str:
    """A group's number as the API takes it; anything else as sent, for the schema to refuse."""
    return int(value) if value.isascii() and value.isdigit() and len(value) <= 10 else value


def reach_sentence(reach) -> str:
    """Say how far targets reach: "Sẽ phát trên 57 cụm loa, 118 loa ở 2 phường.", and how many are offline."""
    said = _l("Sẽ phát trên %(clusters)s cụm loa, %(speakers)s loa ở %(wards)s phường.", clusters=reach.clusters,
              speakers=reach.speakers, wards=reach.wards)
    if not reach.offline:
        return str(said)
    offline = _l("%(n)s cụm loa đang mất kết nối.", n=reach.offline)
    return f"{said} {offline}"


def _list(text: str) -> list[str]:
    return [part.strip() for part in text.replace(";", ",").split(",") if part.strip()]


def _api_day(text: str) -> str:
    """Read a day written dd/mm/yyyy into the API's YYYY-MM-DD; anything else goes on for the API to refuse."""
    try:
        return parse_day(text).isoformat()
    except ValueError:
        return text


def _api_start(text: str) -> str:
    """Read the start as typed, 05/01/2027 17:30 (or 2027-01-05T17:30), into the API's local time; refuse another."""
    try:
        moment = parse_moment(text)
    except ValueError:
        raise ValidationFailed(BAD_START, fields={"start_at": BAD_START}) from None
    return moment.isoformat(timespec="seconds" if moment.second else "minutes")


def _shown_day(day: str) -> str:
    try:
        return date.fromisoformat(day).strftime(DAY_SHOWN)
    except ValueError:
        return day


def _when(form: MultiDict) -> dict:
    repeat = form.get("repeat", "once")
    times = _list(form.get("times", ""))
    rule = form.get("rrule", "").strip() or None if repeat == "custom" else REPEATS.get(repeat)
    start_at = "now" if form.get("now") else form.get("start_at", "").strip()
    if times and not start_at:  # several times a day from today on: from the next whole minute, not a past one
        start_at = (clock.now().astimezone(LOCAL_ZONE) + timedelta(minutes=1)).strftime(ISO_MOMENT)
    elif start_at and start_at != "now":
        start_at = _api_start(start_at)
    return {"start_at": start_at, "rrule": ONE_DAY if times and rule is None else rule, "times": times,
            "exdates": [_api_day(day) for day in _list(form.get("exdates", ""))]}


def request_body(form: MultiDict) -> dict:
    """Return the API body the form describes; the API's schema and then the service check it."""
    targets = {"all": True} if form.get("all") else {}
    for key in ("wards", "groups", "clusters"):
        if chosen := form.getlist(key):
            targets[key] = [number(v) for v in chosen] if key == "groups" else chosen
    body = {
        "title": form.get("title", ""),
        "priority": form.get("priority", Priority.NORMAL.value),
        "kind": form.get("kind", ProgrammeKind.PLAY.value),
        "targets": targets,
        **_when(form),
    }
    if body["kind"] == ProgrammeKind.RELAY.value:
        minutes = _number(form, "relay_minutes")
        body |= {"stream_url": form.get("stream_url", "").strip(), "duration_s": minutes * 60 if minutes else None}
    else:
        items = [int(i) for i in form.getlist("items") if i.isascii() and i.isdigit() and len(i) <= 10]
        body |= {"items": items} if len(items) > 1 else {"audio_id": _number(form, "audio_id")}
        body |= {"repeat": _number(form, "times_played") or 1, "gap_s": _number(form, "gap_s") or 0,
                 "chime": bool(form.get("chime"))}
    if form.get("override_reason", "").strip():
        body["override_reason"] = form["override_reason"]
    return body


def form_values(broadcast) -> MultiDict:
    """Return the form's fields for editing a broadcast, so that saving them unchanged changes nothing."""
    values = [("title", broadcast.title), ("priority", broadcast.priority.value), ("kind", broadcast.kind.value),
              ("start_at", broadcast.start_at.astimezone(LOCAL_ZONE).strftime(MOMENT_SHOWN)),
              ("times", ", ".join(broadcast.times or ())),
              ("exdates", ", ".join(map(_shown_day, broadcast.exdates or ())))]
    targets = broadcast.targets
    values += [("all", "1")] if targets.get("all") else []
    values += [(key, str(v)) for key in ("wards", "groups", "clusters") for v in targets.get(key, [])]
    rule = broadcast.rrule
    if rule == ONE_DAY and broadcast.times:
        rule = None
    repeat = next((key for key, known in REPEATS.items() if known == rule), "custom")
    values += [("repeat", repeat)] + ([("rrule", rule)] if repeat == "custom" else [])
    if broadcast.kind is ProgrammeKind.RELAY:
        values += [("stream_url", broadcast.stream_url), ("relay_minutes", str(broadcast.duration_ms // 60000))]
    else:
        programme = broadcast.programme or {"items": [broadcast.audio_id]}
        items = programme["items"]
        values += [("audio_id", str(items[0]))] + ([("items", str(i)) for i in items] if len(items) > 1 else [])
        values += [("times_played", str(programme.get("repeat", 1))), ("gap_s", str(int(programme.get("gap_s", 0))))]
        values += [("chime", "1")] if programme.get("chime") else []
    return MultiDict(values)


def copy_values(broadcast, first_start) -> MultiDict:
    """Return the form's fields for a copy of a broadcast: "(bản sao)" after its title, first sounding then."""
    values = form_values(broadcast)
    room = MAX_TITLE - len(str(_l("%(title)s (bản sao)", title="")))
    title = broadcast.title if len(broadcast.title) <= room else broadcast.title[:room - 1] + "…"
    values["title"] = str(_l("%(title)s (bản sao)", title=title))
    values["start_at"] = first_start.astimezone(LOCAL_ZONE).strftime(MOMENT_SHOWN)
    return values


def describe_repeat(broadcast) -> str:
    """Say in words how often a broadcast sounds: "Hằng ngày", or its rule as written."""
    rule = None if broadcast.rrule == ONE_DAY and broadcast.times else broadcast.rrule
    key = next((key for key, known in REPEATS.items() if known == rule), None)
    return str(REPEAT_LABELS[key]) if key else rule
