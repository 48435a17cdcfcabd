"""Watch the fleet on the controller's own clock: outage episodes, and incidents a technician is told once.

A cluster is offline when its will arrived or nothing was heard for 3 heartbeat intervals (judged in SQL by
fleet_health.status_sql, as fleet.effective_status does in Python).
Each outage is one episode; an episode opens one incident, but only after INCIDENT_HOLD_S, so that when a large
share of a ward goes down together (a power cut) the ward gets one incident instead of dozens. The same hold runs
again when the ward's incident closes: its clusters still coming back are part of the restoration, and only those
still down INCIDENT_HOLD_S later get their own incident. One that had its own incident before its ward went down
keeps it. Maintenance windows open no incident. Speaker and amplifier faults, read from heartbeats, raise their own
incidents.
"""

import logging
from collections import Counter
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select

from pa_controller import settings
from pa_controller.domain import ClusterStatus, IncidentKind, OutageCause
from pa_controller.extensions import db
from pa_controller.models import Cluster, ClusterState, Incident, MaintenanceWindow, Outage, Ward
from pa_controller.services.fleet_health import status_sql
from pa_controller.services.incident_wording import sentence

log = logging.getLogger(__name__)
CLUSTER_OFFLINE, WARD_OUTAGE = IncidentKind.CLUSTER_OFFLINE, IncidentKind.WARD_OUTAGE
SPEAKER_FAULT, AMPLIFIER_FAULT = IncidentKind.SPEAKER_FAULT, IncidentKind.AMPLIFIER_FAULT
ONLINE, STALE, OFFLINE = ClusterStatus.ONLINE.value, ClusterStatus.STALE.value, ClusterStatus.OFFLINE.value


def sweep(now: datetime) -> None:
    """Judge every cluster, then open and close incidents (the worker runs this every FLEET_WATCH_S).

    Clusters are judged in SQL and only those whose outage or incident must change are loaded: at 10,000
    clusters a sweep takes milliseconds, not the seconds that loading every cluster took.
    """
    status = status_sql(now, settings.current().heartbeat_s)
    track_outages(status, now)
    raise_incidents(status, now)
    db.session.commit()


def _in_service():
    """Clusters in service joined to their state (a cluster never heard has none: unknown)."""
    return select().select_from(Cluster).outerjoin(ClusterState).where(Cluster.retired.is_(False))


def track_outages(status, now: datetime) -> None:
    """Open an outage for each cluster newly judged offline; end those that are heard again."""
    open_outage = select(Outage.id).where(Outage.cluster_id == Cluster.id, Outage.ended_at.is_(None)).exists()
    newly_down = _in_service().add_columns(Cluster.id, ClusterState.online, ClusterState.status_at,
                                           ClusterState.heartbeat_at).where(status == OFFLINE, ~open_outage)
    for cluster_id, online, status_at, heartbeat_at in db.session.execute(newly_down):
        began = status_at if not online else (heartbeat_at or status_at)
        db.session.add(Outage(cluster_id=cluster_id, started_at=began or now, detected_at=now,
                              cause=OutageCause.SILENT if online else OutageCause.DISCONNECTED))
    heard_again = (_in_service().add_columns(Outage, ClusterState.last_seen)
                   .join(Outage, and_(Outage.cluster_id == Cluster.id, Outage.ended_at.is_(None)))
                   .where(status.in_([ONLINE, STALE])))
    for outage, last_seen in db.session.execute(heard_again).tuples():
        outage.ended_at = max(last_seen or now, outage.started_at)
    db.session.flush()


def _maintained(now: datetime):
    """Return a test: is this (cluster, ward) under a maintenance window now?"""
    windows = list(db.session.scalars(select(MaintenanceWindow).where(
        MaintenanceWindow.starts_at <= now, MaintenanceWindow.ends_at > now)))

    def covered(cluster_id: str | None, ward_id: str | None) -> bool:
        return any((w.cluster_id is None or w.cluster_id == cluster_id) and (w.ward_id is None or w.ward_id == ward_id)
                   for w in windows)

    return covered


def _open(kind: IncidentKind, now: datetime, *, ward_id: str, cluster_id: str | None = None,
          outage: Outage | None = None, detail: dict | None = None) -> Incident:
    """Open an incident; its summary, what the webhook says, is in Vietnamese and names its cluster and ward."""
    incident = Incident(kind=kind, opened_at=now, notify_attempts=0, detail=detail, ward_id=ward_id,
                        cluster_id=cluster_id, outage_id=None if outage is None else outage.id)
    # the objects too, so that it can be worded before it is flushed
    incident.ward, incident.outage = db.session.get(Ward, ward_id), outage
    incident.cluster = None if cluster_id is None else db.session.get(Cluster, cluster_id)
    incident.summary = sentence(incident)[:300]
    db.session.add(incident)
    log.warning("incident opened: %s", incident.summary)
    return incident


def _close(incident: Incident, at: datetime) -> None:
    incident.closed_at = at
    log.info("incident closed: %s", incident.summary)


def raise_incidents(status, now: datetime) -> None:
    """Open and close the incidents of outages, a ward's and then each cluster's, and of device faults."""
    covered = _maintained(now)
    open_incidents = list(db.session.scalars(select(Incident).where(Incident.closed_at.is_(None))))
    outages = list(db.session.execute(select(Outage, Cluster.ward_id).join(Cluster).where(
        Outage.ended_at.is_(None), Cluster.retired.is_(False))).tuples())
    held = _ward_outages(Counter(ward for _, ward in outages), open_incidents, covered, now)
    _cluster_outages(outages, open_incidents, held, covered, now)
    _device_faults(status, open_incidents, covered, now)


def _ward_outages(offline: Counter, open_incidents, covered, now: datetime) -> dict[str, datetime | None]:
    """Open a ward's incident when WARD_OUTAGE_SHARE of it is offline together; close it when less of it is.

    Return the wards whose outages belong to a ward incident: None while it is open, or when it closed if that was
    less than INCIDENT_HOLD_S ago (its clusters still coming back are part of the power cut, not news).
    """
    config = settings.current()
    hold, share = timedelta(seconds=config.incident_hold_s), config.ward_outage_share
    in_service = dict(db.session.execute(
        select(Cluster.ward_id, func.count()).where(Cluster.retired.is_(False)).group_by(Cluster.ward_id)).all())
    held: dict[str, datetime | None] = dict(db.session.execute(
        select(Incident.ward_id, func.max(Incident.closed_at)).where(
            Incident.kind == WARD_OUTAGE, Incident.closed_at > now - hold).group_by(Incident.ward_id)).all())
    by_ward = {i.ward_id: i for i in open_incidents if i.kind == WARD_OUTAGE}
    for ward, down in sorted(offline.items()):
        if ward not in by_ward and down / in_service[ward] >= share and not covered(None, ward):
            detail = {"offline": down, "clusters": in_service[ward]}
            by_ward[ward] = _open(WARD_OUTAGE, now, ward_id=ward, detail=detail)
    for ward, incident in by_ward.items():
        down = offline.get(ward, 0)
        if down / max(in_service.get(ward, 0), 1) < share:
            _close(incident, now)
            held[ward] = now
        else:
            held[ward] = None
            if incident.id is not None and (incident.detail or {}).get("offline", 0) < down:
                incident.detail = {**(incident.detail or {}), "offline": down}
    return held


def _cluster_outages(outages, open_incidents, held: dict[str, datetime | None], covered, now: datetime) -> None:
    """Open an incident for each outage INCIDENT_HOLD_S old that no ward incident holds; close those that ended.

    An outage held by a ward incident that has closed waits INCIDENT_HOLD_S from that close, as a new one waits from
    its detection: a ward coming back over a minute is not dozens of incidents opened and closed within seconds.
    """
    hold = timedelta(seconds=settings.current().incident_hold_s)
    # an outage has one incident, even closed by hand: opening another would break incident.outage_id's uniqueness
    raised = set(db.session.scalars(select(Incident.outage_id).join(Outage).where(Outage.ended_at.is_(None))))
    for outage, ward in outages:
        if outage.id in raised or covered(outage.cluster_id, ward) or (ward in held and held[ward] is None):
            continue
        if now - max(outage.detected_at, held.get(ward) or outage.detected_at) < hold:
            continue
        _open(CLUSTER_OFFLINE, now, cluster_id=outage.cluster_id, ward_id=ward, outage=outage)
    open_ids = {outage.id for outage, _ in outages}
    for incident in open_incidents:
        if incident.kind == CLUSTER_OFFLINE and incident.outage_id not in open_ids:
            _close(incident, now)


def _device_faults(status, open_incidents, covered, now: datetime) -> None:
    """One incident per cluster while its heartbeats report dead speakers, or an amplifier drawing no current.

    Only online clusters are judged: nothing new is known of a silent one, so what is open stays as it is.
    """
    current = {(i.kind, i.cluster_id): i for i in open_incidents if i.kind in (SPEAKER_FAULT, AMPLIFIER_FAULT)}
    speaker_fault = ClusterState.speakers_ok < ClusterState.speakers_total  # NULL (unknown) is no fault
    amplifier_fault = ClusterState.amp_ok.is_(False)
    candidates = or_(speaker_fault, amplifier_fault, Cluster.id.in_({cid for _, cid in current}))
    judged = _in_service().add_columns(Cluster.id, Cluster.ward_id, ClusterState.speakers_ok,
                                       ClusterState.speakers_total, ClusterState.amp_ok).where(
        status == ONLINE, candidates)
    for cluster_id, ward_id, speakers_ok, speakers_total, amp_ok in db.session.execute(judged):
        faults = {
            SPEAKER_FAULT: speakers_ok is not None and speakers_total is not None and speakers_ok < speakers_total,
            AMPLIFIER_FAULT: amp_ok is False,
        }
        for kind, faulty in faults.items():
            incident = current.get((kind, cluster_id))
            if faulty and incident is None and not covered(cluster_id, ward_id):
                _open(kind, now, cluster_id=cluster_id, ward_id=ward_id,
                      detail={"speakers_ok": speakers_ok, "speakers_total": speakers_total})
            elif not faulty and incident is not None:
                _close(incident, now)
