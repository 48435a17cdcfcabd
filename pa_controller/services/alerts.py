"""Incidents as technicians handle them: listed, acknowledged, closed, sent to a webhook; maintenance windows."""

import logging
from datetime import datetime

import requests
from flask_babel import lazy_gettext as _
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from pa_controller import clock, settings
from pa_controller.domain import Role
from pa_controller.errors import Conflict, NotFound, ValidationFailed
from pa_controller.extensions import db
from pa_controller.models import Cluster, Incident, MaintenanceWindow, User, Ward
from pa_controller.services import access, audit
from pa_controller.services.proposals import MAX_ID
from pa_protocol import format_time

log = logging.getLogger(__name__)
WATCHERS = tuple(r for r in Role if r.tends_fleet)
PLACES = {"ward": _("phường"), "cluster": _("cụm loa")}
MAX_ATTEMPTS = 10
BATCH = 20


def list_incidents(user: User, *, open_only: bool = True, limit: int = 200) -> list[Incident]:
    query = (select(Incident).order_by(Incident.opened_at.desc()).limit(limit)
             .options(joinedload(Incident.cluster), joinedload(Incident.ward), joinedload(Incident.outage)))
    if open_only:
        query = query.where(Incident.closed_at.is_(None))
    if (scope := access.ward_scope(user)) is not None:
        query = query.where(Incident.ward_id.in_(scope))
    return list(db.session.scalars(query))


def get_incident(user: User, incident_id: int) -> Incident:
    incident = db.session.get(Incident, incident_id) if 1 <= incident_id <= MAX_ID else None
    return access.require_seen(user, incident, lambda i: {i.ward_id} if i.ward_id else set(),
                               NotFound(_("Không có sự cố số %(id)s.", id=incident_id)))


def acknowledge(user: User, incident_id: int) -> Incident:
    """Say someone is on it; an incident is acknowledged once."""
    access.require_role(user, *WATCHERS)
    incident = get_incident(user, incident_id)
    if incident.acknowledged_at is None:
        incident.acknowledged_at, incident.acknowledged_by = clock.now(), user.id
        audit.record("incident.acknowledge", f"incident:{incident.id}", ward_id=incident.ward_id)
        db.session.commit()
    return incident


def close(user: User, incident_id: int) -> Incident:
    """Close by hand (an incident also closes itself on recovery)."""
    access.require_role(user, *WATCHERS)
    incident = get_incident(user, incident_id)
    if incident.closed_at is not None:
        raise Conflict(_("Sự cố số %(id)s đã đóng rồi.", id=incident_id))
    incident.closed_at, incident.closed_by = clock.now(), user.id
    audit.record("incident.close", f"incident:{incident.id}", ward_id=incident.ward_id)
    db.session.commit()
    return incident


def _moment(data: dict, key: str) -> datetime:
    try:
        return clock.parse_local(data[key])
    except ValueError:
        raise ValidationFailed(_("%(key)s phải là một thời điểm, ví dụ 2027-01-05T08:00.", key=key),
                               fields={key: "invalid"}) from None


def add_maintenance(user: User, data: dict) -> MaintenanceWindow:
    """A window in which outages of a ward, a cluster, or (neither given) the whole district open no incident.

    `data` is the API's MaintenanceRequest, already of the right types; this checks what it means.
    """
    access.require_role(user, *WATCHERS)
    starts_at, ends_at = _moment(data, "starts_at"), _moment(data, "ends_at")
    if ends_at <= starts_at:
        raise ValidationFailed(_("Giờ kết thúc (ends_at) phải sau giờ bắt đầu (starts_at)."),
                               fields={"ends_at": "before_start"})
    reason = data["reason"]
    ward_id, cluster_id = data.get("ward"), data.get("cluster")
    for value, model, name in ((ward_id, Ward, "ward"), (cluster_id, Cluster, "cluster")):
        if value is not None and db.session.get(model, value) is None:
            raise ValidationFailed(_("Không có %(what)s mang mã %(id)s.", what=PLACES[name], id=value),
                                   fields={name: "unknown"})
    window = MaintenanceWindow(ward_id=ward_id, cluster_id=cluster_id, starts_at=starts_at, ends_at=ends_at,
                               reason=reason.strip(), created_by=user.id, created_at=clock.now())
    db.session.add(window)
    db.session.flush()
    audit.record("maintenance.add", f"maintenance:{window.id}", ward_id=ward_id, cluster=cluster_id,
                 starts_at=starts_at.isoformat(), ends_at=ends_at.isoformat(), reason=window.reason)
    db.session.commit()
    return window


def list_maintenance(user: User) -> list[MaintenanceWindow]:
    access.require_role(user, *WATCHERS)
    query = select(MaintenanceWindow).where(MaintenanceWindow.ends_at > clock.now())
    return list(db.session.scalars(query.order_by(MaintenanceWindow.starts_at)))


def notify(now: datetime) -> int:
    """POST opened and closed incidents to ALERT_WEBHOOK_URL; return how many were delivered.

    Each change is sent until the webhook answers 2xx, at most MAX_ATTEMPTS times (once per watch tick).
    """
    url = settings.current().alert_webhook_url
    if not url:
        return 0
    pending = (Incident.notified_at.is_(None)) | (Incident.closed_at.is_not(None) & (Incident.notified_at
                                                                                       < Incident.closed_at))
    query = select(Incident).where(pending, Incident.notify_attempts < MAX_ATTEMPTS).order_by(Incident.id)
    delivered = 0
    for incident in db.session.scalars(query.limit(BATCH)):
        event = "incident.closed" if incident.closed_at else "incident.opened"
        try:
            answer = requests.post(url, json={"event": event, "incident": describe(incident)}, timeout=3)
            ok = 200 <= answer.status_code < 300
        except requests.RequestException as exc:
            ok = False
            log.warning("webhook %s unreachable: %s", url, exc)
        if ok:
            incident.notified_at, incident.notify_attempts = now, 0
            delivered += 1
        else:
            incident.notify_attempts += 1
    db.session.commit()
    return delivered


def describe(incident: Incident) -> dict:
    """An incident as the API and the webhook show it: ids and names, so a receiver can word it itself."""

    def utc(moment: datetime | None) -> str | None:
        return None if moment is None else format_time(moment)

    cluster, ward, outage = incident.cluster, incident.ward, incident.outage
    return {
        "id": incident.id, "kind": incident.kind, "cluster": incident.cluster_id, "ward": incident.ward_id,
        "cluster_name": cluster.name if cluster else None, "ward_name": ward.name if ward else None,
        "summary": incident.summary, "detail": incident.detail, "opened_at": utc(incident.opened_at),
        "closed_at": utc(incident.closed_at), "acknowledged_at": utc(incident.acknowledged_at),
        "outage_started_at": utc(outage.started_at) if outage else None,
        "outage_cause": outage.cause if outage else None,
    }
