"""The scheduling form's fields, read into the same request body the API takes."""

from werkzeug.datastructures import MultiDict

from pa_controller.domain import Priority, ProgrammeKind

REPEATS = {  # what an officer picks → the RFC 5545 rule it means
    "once": None,
    "daily": "FREQ=DAILY",
    "mon-sat": "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR,SA",  # the news relays' rhythm
    "mon-fri": "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR",
    "weekly": "FREQ=WEEKLY",
}


def _number(form: MultiDict, key: str) -> int | None:
    value = form.get(key, "").strip()
    return int(value) if value.isascii() and value.isdigit() and len(value) <= 6 else None


def request_body(form: MultiDict) -> dict:
    """Return the API body the form describes; the service does every check."""
    chosen = form.getlist("wards")
    repeat = form.get("repeat", "once")
    body = {
        "title": form.get("title", ""),
        "priority": form.get("priority", Priority.NORMAL.value),
        "kind": form.get("kind", ProgrammeKind.PLAY.value),
        "targets": {"wards": chosen} if chosen else ({"all": True} if form.get("all") else {}),
        "start_at": "now" if form.get("now") else form.get("start_at", ""),
        "rrule": form.get("rrule", "").strip() or None if repeat == "custom" else REPEATS.get(repeat),
        "exdates": [d.strip() for d in form.get("exdates", "").replace(";", ",").split(",") if d.strip()],
    }
    if body["kind"] == ProgrammeKind.RELAY.value:
        minutes = _number(form, "relay_minutes")
        body |= {"stream_url": form.get("stream_url", "").strip(), "duration_s": minutes * 60 if minutes else None}
    else:
        body |= {"audio_id": _number(form, "audio_id"), "repeat": _number(form, "times") or 1,
                 "gap_s": _number(form, "gap_s") or 0, "chime": bool(form.get("chime"))}
    if form.get("override_reason", "").strip():
        body["override_reason"] = form["override_reason"]
    return body
