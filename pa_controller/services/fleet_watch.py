"""Watch the fleet on the controller's own clock: outage episodes, and incidents a technician is told once.

A cluster is offline when its will arrived or nothing was heard for 3 heartbeat intervals (fleet.effective_status).
Each outage is one episode; an episode opens one incident, but only after INCIDENT_HOLD_S, so that when a large
share of a ward goes down together (a power cut) the ward gets one incident instead of dozens. Maintenance windows
open no incident. Speaker and amplifier faults, read from heartbeats, raise their own incidents.
"""

import logging
from collections import Counter
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select

from pa_controller.domain import ClusterStatus
from pa_controller.extensions import db
from pa_controller.models import Cluster, ClusterState, Incident, MaintenanceWindow, Outage
from pa_controller.services.fleet import effective_status

log = logging.getLogger(__name__)
CLUSTER_OFFLINE, WARD_OUTAGE = "cluster_offline", "ward_outage"
SPEAKER_FAULT, AMPLIFIER_FAULT = "speaker_fault", "amplifier_fault"


def sweep(now: datetime) -> None:
    """Judge every cluster, then open and close incidents (the worker runs this every FLEET_WATCH_S)."""
    fleet = _fleet()
    track_outages(fleet, now)
    raise_incidents(fleet, now)
    db.session.commit()


def _fleet() -> list[tuple[Cluster, ClusterState | None]]:
    query = select(Cluster, ClusterState).outerjoin(ClusterState).where(Cluster.retired.is_(False))
    return list(db.session.execute(query).tuples())


def track_outages(fleet, now: datetime) -> None:
    """Open an outage for each cluster newly judged offline; end those that are heard again."""
    heartbeat_s = current_app.config["HEARTBEAT_S"]
    open_outages = {o.cluster_id: o for o in db.session.scalars(select(Outage).where(Outage.ended_at.is_(None)))}
    for cluster, state in fleet:
        status = effective_status(state, now, heartbeat_s)
        outage = open_outages.get(cluster.id)
        if status is ClusterStatus.OFFLINE and outage is None:
            will = not state.online
            began = state.status_at if will else (state.heartbeat_at or state.status_at)
            db.session.add(Outage(cluster_id=cluster.id, started_at=began or now, detected_at=now,
                                  cause="disconnected" if will else "silent"))
        elif status in (ClusterStatus.ONLINE, ClusterStatus.STALE) and outage is not None:
            outage.ended_at = max(state.last_seen or now, outage.started_at)
    db.session.flush()


def _maintained(now: datetime):
    """Return a test: is this (cluster, ward) under a maintenance window now?"""
    windows = list(db.session.scalars(select(MaintenanceWindow).where(
        MaintenanceWindow.starts_at <= now, MaintenanceWindow.ends_at > now)))

    def covered(cluster_id: str | None, ward_id: str | None) -> bool:
        return any((w.cluster_id is None or w.cluster_id == cluster_id) and (w.ward_id is None or w.ward_id == ward_id)
                   for w in windows)

    return covered


def _open(kind: str, summary: str, now: datetime, **fields) -> Incident:
    incident = Incident(kind=kind, summary=summary[:300], opened_at=now, notify_attempts=0, **fields)
    db.session.add(incident)
    log.warning("incident opened: %s", summary)
    return incident


def _close(incident: Incident, at: datetime) -> None:
    incident.closed_at = at
    log.info("incident closed: %s", incident.summary)


def raise_incidents(fleet, now: datetime) -> None:
    config = current_app.config
    hold, share = timedelta(seconds=config["INCIDENT_HOLD_S"]), config["WARD_OUTAGE_SHARE"]
    covered = _maintained(now)
    ward_of = {cluster.id: cluster.ward_id for cluster, _ in fleet}
    in_service = Counter(ward_of.values())
    outages = list(db.session.scalars(select(Outage).where(Outage.ended_at.is_(None))))
    outages = [o for o in outages if o.cluster_id in ward_of]
    offline = Counter(ward_of[o.cluster_id] for o in outages)
    open_incidents = list(db.session.scalars(select(Incident).where(Incident.closed_at.is_(None))))
    by_ward = {i.ward_id: i for i in open_incidents if i.kind == WARD_OUTAGE}

    for ward, down in sorted(offline.items()):
        if ward not in by_ward and down / in_service[ward] >= share and not covered(None, ward):
            by_ward[ward] = _open(WARD_OUTAGE, f"{ward}: {down} of {in_service[ward]} clusters offline at once",
                                  now, ward_id=ward, detail={"offline": down, "clusters": in_service[ward]})
    for ward, incident in by_ward.items():
        down = offline.get(ward, 0)
        if down / max(in_service[ward], 1) < share:
            _close(incident, now)
        elif incident.id is not None and (incident.detail or {}).get("offline", 0) < down:
            incident.detail = {**(incident.detail or {}), "offline": down}

    raised = {i.outage_id for i in open_incidents if i.outage_id is not None}
    for outage in outages:
        ward = ward_of[outage.cluster_id]
        if (outage.id in raised or now - outage.detected_at < hold or covered(outage.cluster_id, ward)
                or (ward in by_ward and by_ward[ward].closed_at is None)):
            continue
        _open(CLUSTER_OFFLINE, f"{outage.cluster_id} offline ({outage.cause}) since {outage.started_at:%H:%M:%S} UTC",
              now, cluster_id=outage.cluster_id, ward_id=ward, outage_id=outage.id)
    open_ids = {o.id for o in outages}
    for incident in open_incidents:
        if incident.kind == CLUSTER_OFFLINE and incident.outage_id not in open_ids:
            _close(incident, now)
    _device_faults(fleet, open_incidents, covered, now)


def _device_faults(fleet, open_incidents, covered, now: datetime) -> None:
    """One incident per cluster while its heartbeats report dead speakers, or an amplifier drawing no current."""
    heartbeat_s = current_app.config["HEARTBEAT_S"]
    current = {(i.kind, i.cluster_id): i for i in open_incidents if i.kind in (SPEAKER_FAULT, AMPLIFIER_FAULT)}
    for cluster, state in fleet:
        if state is None or effective_status(state, now, heartbeat_s) is not ClusterStatus.ONLINE:
            continue  # nothing new is known of a silent cluster: keep what is open as it is
        faults = {
            SPEAKER_FAULT: state.speakers_ok is not None and state.speakers_total is not None
            and state.speakers_ok < state.speakers_total,
            AMPLIFIER_FAULT: state.amp_ok is False,
        }
        for kind, faulty in faults.items():
            incident = current.get((kind, cluster.id))
            if faulty and incident is None and not covered(cluster.id, cluster.ward_id):
                detail = {"speakers_ok": state.speakers_ok, "speakers_total": state.speakers_total}
                what = (f"{state.speakers_ok} of {state.speakers_total} speakers working" if kind == SPEAKER_FAULT
                        else "amplifier draws no current")
                _open(kind, f"{cluster.id}: {what}", now, cluster_id=cluster.id, ward_id=cluster.ward_id,
                      detail=detail)
            elif not faulty and incident is not None:
                _close(incident, now)
