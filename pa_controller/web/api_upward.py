"""API v1: what a province's information system pulls, in format loanet.upward/1 (docs/upward-api.md).

The format's major version is in the path (/api/v1/upward/v1/…) and in every answer (`format`); a change that
would break a reader gets a new path, served beside this one.
"""

from datetime import datetime, timedelta

from flask import g, jsonify, url_for

from pa_controller import clock, settings
from pa_controller.domain import REJECTION_NOTE, Scope
from pa_controller.services import upward
from pa_controller.web import labels
from pa_controller.web.api import authenticated
from pa_controller.web.apidoc import Blueprint
from pa_controller.web.formatting import utc
from pa_controller.web.schemas import upward as u
from pa_protocol import DeliveryState

bp = Blueprint("api_upward", __name__, url_prefix="/api/v1/upward/v1",
               description="Upward reports for a province's information system, format loanet.upward/1 "
                           "(docs/upward-api.md): keyset pages, time windows, read with a `report` or `read` token")
SCHEDULE_SPAN = timedelta(days=7)  # no window asked: the week ahead
PLAYS_SPAN = timedelta(days=1)  # no window asked: the day behind


def _window(since: datetime | None, until: datetime | None, now: datetime, span: timedelta,
            ahead: bool) -> upward.Window:
    """The window asked for; a missing end is `span` from the other, and with neither it starts or ends now."""
    if since is None and until is None:
        since, until = (now, now + span) if ahead else (now - span, now)
    elif since is None:
        since = until - span
    elif until is None:
        until = since + span
    return upward.Window(since, until)


def _answer(name: str, page: upward.Page, items: list, now: datetime, query: dict,
            window: upward.Window | None = None):
    """One page in the format: what it is, when, its items, and the path of the next page with the same question."""
    following = None
    if page.after is not None:
        if window is not None:  # the window as resolved: a default "now" must not move between pages
            query = {**query, "from": utc(window.start), "to": utc(window.end)}
        args = {key: value for key, value in query.items() if value is not None}
        following = url_for(f"api_upward.{name}", **args, cursor=upward.encode_cursor(name, page.after))
    body = {"format": upward.FORMAT, "list": name, "generated_at": utc(now)}
    if window is not None:
        body["window"] = {"from": utc(window.start), "to": utc(window.end)}
    return jsonify({**body, "items": items, "next": following})


@bp.get("/devices")
@authenticated(Scope.REPORT)
@bp.arguments(u.UpwardQuery, location="query", as_kwargs=True)
@bp.response(200, u.UpwardDevices)
def devices(ward=None, limit=upward.DEFAULT_LIMIT, cursor=None):
    """Every cluster of your wards with its ward, place, speakers and status now, by id."""
    now = clock.now()
    after = upward.decode_cursor("devices", cursor, (str,))
    page = upward.devices(g.user, ward, after, limit, now, settings.current().heartbeat_s)
    return _answer("devices", page, [_device(d) for d in page.rows], now, {"ward": ward, "limit": limit})


@bp.get("/schedule")
@authenticated(Scope.REPORT)
@bp.arguments(u.UpwardWindowQuery, location="query", as_kwargs=True)
@bp.response(200, u.UpwardSchedule)
def schedule(ward=None, limit=upward.DEFAULT_LIMIT, cursor=None, since=None, until=None):
    """The runs that start within the window (default: the week ahead) and reach your wards, by start."""
    now = clock.now()
    window = _window(since, until, now, SCHEDULE_SPAN, ahead=True)
    after = upward.decode_cursor("schedule", cursor, (datetime, int))
    page = upward.schedule(g.user, window, ward, after, limit)
    return _answer("schedule", page, [_scheduled(s) for s in page.rows], now, {"ward": ward, "limit": limit},
                   window)


@bp.get("/plays")
@authenticated(Scope.REPORT)
@bp.arguments(u.UpwardWindowQuery, location="query", as_kwargs=True)
@bp.response(200, u.UpwardPlays)
def plays(ward=None, limit=upward.DEFAULT_LIMIT, cursor=None, since=None, until=None):
    """The proof-of-play log: what each of your clusters made of each run starting within the window (default:
    the day behind), by run, then cluster."""
    now = clock.now()
    window = _window(since, until, now, PLAYS_SPAN, ahead=False)
    after = upward.decode_cursor("plays", cursor, (datetime, int, str))
    page = upward.plays(g.user, window, ward, after, limit)
    return _answer("plays", page, [_play(p) for p in page.rows], now, {"ward": ward, "limit": limit}, window)


def _device(d: upward.Device) -> dict:
    r = d.row
    return {
        "id": r.id, "name": r.name, "ward": r.ward_id, "ward_name": r.ward_name, "lat": r.lat, "lon": r.lon,
        "speakers": r.speakers, "in_service": not r.retired, "status": d.status.value,
        "status_since": utc(d.since), "last_heartbeat_at": utc(r.heartbeat_at), "last_seen_at": utc(r.last_seen),
        "rssi_dbm": r.rssi_dbm, "amp_ok": r.amp_ok, "speakers_ok": r.speakers_ok, "speakers_total": r.speakers_total,
        "volume": r.volume, "temp_c": r.temp_c, "firmware": r.fw,
    }


def _scheduled(s: upward.ScheduledRun) -> dict:
    run, b = s.run, s.broadcast
    return {
        "run_id": run.id, "broadcast_id": b.id, "title": b.title, "kind": b.kind.value, "priority": b.priority.value,
        "wards": [{"id": ward_id, "name": name} for ward_id, name in s.wards], "start_at": utc(run.start_at),
        "end_at": utc(run.start_at + timedelta(milliseconds=b.duration_ms)), "duration_ms": b.duration_ms,
        "recurring": b.rrule is not None, "state": run.state.value, "reason": run.reason,
    }


def _reason(state: DeliveryState, detail) -> str | None:
    """The machine word of why a delivery did not play: the cluster's `detail.reason`, or a rejection's."""
    if state is DeliveryState.DONE or not isinstance(detail, dict):
        return None
    rejected = detail.get(REJECTION_NOTE) if isinstance(detail.get(REJECTION_NOTE), dict) else {}
    reason = detail.get("reason") or rejected.get("reason")
    return reason[:100] if isinstance(reason, str) else None


def _play(p) -> dict:
    """A row of upward.PLAY_COLUMNS in the format."""
    final = p.state.is_final
    text = labels.delivery_reason(p.state, p.detail) if p.state is not DeliveryState.DONE else ""
    return {
        "run_id": p.run_id, "broadcast_id": p.broadcast_id, "title": p.title, "priority": p.priority.value,
        "cluster": p.cluster_id, "ward": p.ward_id, "start_at": utc(p.start_at), "duration_ms": p.duration_ms,
        "state": p.state.value, "final": final, "state_at": utc(p.at), "ready_at": utc(p.ready_at),
        "started_at": utc(p.started_at), "ended_at": utc(p.at) if final else None,
        "reason": _reason(p.state, p.detail), "reason_text": text or None,
        "inferred": bool(isinstance(p.detail, dict) and p.detail.get("inferred")),
    }
