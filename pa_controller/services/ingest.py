"""Apply what clusters report: statuses, heartbeats and delivery events, in batches."""

import logging
from datetime import datetime

from sqlalchemy import select

from pa_controller.domain import ClusterStatus, DeliveryState
from pa_controller.extensions import db
from pa_controller.messaging import protocol
from pa_controller.messaging.protocol import parse_time
from pa_controller.models import ClusterState, Delivery
from pa_controller.services import telemetry

log = logging.getLogger(__name__)
HEARTBEAT_FIELDS = ("seq", "uptime_s", "playing", "volume", "rssi_dbm", "temp_c", "speakers_ok",
                    "speakers_total", "amp_ok", "fw")


def _known(messages: list[tuple[str, dict]]):
    """Yield (state, payload) for the messages of clusters in the registry; others are skipped."""
    cids = {cid for cid, _ in messages}
    query = select(ClusterState).where(ClusterState.cluster_id.in_(cids))
    states = {state.cluster_id: state for state in db.session.scalars(query)}
    for cid, payload in messages:
        if (state := states.get(cid)) is not None:
            yield state, payload


def apply_statuses(messages: list[tuple[str, dict]], now: datetime) -> int:
    """Record births and wills; a will from an older boot than the current birth is ignored."""
    applied = 0
    for state, payload in _known(messages):
        if not payload["online"] and state.online and payload["boot_id"] != state.boot_id:
            log.info("ignored stale will of %s (boot %s, now %s)", state.cluster_id, payload["boot_id"], state.boot_id)
            continue
        state.online = payload["online"]
        state.boot_id = payload["boot_id"]
        state.status = ClusterStatus.ONLINE if payload["online"] else ClusterStatus.OFFLINE
        state.status_at = now
        state.last_seen = now
        state.fw = payload.get("fw", state.fw)
        applied += 1
    return applied


def apply_heartbeats(messages: list[tuple[str, dict]], now: datetime) -> int:
    """Keep the latest heartbeat of each cluster, and its history."""
    applied, known = 0, []
    for state, payload in _known(messages):
        known.append((state.cluster_id, payload))
        for name in HEARTBEAT_FIELDS:
            if name in payload:
                setattr(state, name, payload[name])
        state.activity = payload["state"]
        state.heartbeat_at = state.last_seen = now
        if not state.online:
            # A heartbeat proves the session is up even if its birth was missed.
            state.online, state.status, state.boot_id = True, ClusterStatus.ONLINE, payload["boot_id"]
        applied += 1
    telemetry.record(known, now)
    return applied


def apply_events(messages: list[tuple[str, dict]], now: datetime) -> int:
    """Advance deliveries; a state never moves backwards, and a final state is final."""
    by_cmd = {}
    for cid, payload in messages:
        by_cmd.setdefault(payload["cmd_id"], []).append((cid, payload))
    # Row locks (PostgreSQL) serialise this with a concurrent cancel, so a final state stays final.
    deliveries = db.session.scalars(select(Delivery).where(Delivery.cmd_id.in_(by_cmd)).with_for_update())
    applied = 0
    for delivery in deliveries:
        for cid, payload in by_cmd[delivery.cmd_id]:
            if cid != delivery.cluster_id:
                log.warning("event for command %s came from %s, not %s", delivery.cmd_id, cid, delivery.cluster_id)
                continue
            new = DeliveryState(payload["state"])
            old = delivery.state
            if old.is_final or (not new.is_final and new.progress <= old.progress):
                continue
            delivery.state = new
            delivery.at = parse_time(payload["at"])
            if payload.get("detail"):
                delivery.detail = {**(delivery.detail or {}), **payload["detail"]}
            applied += 1
    return applied


# Heartbeats before statuses: a will that arrives in the same batch as the last
# heartbeats of that session must have the last word.
APPLY_IN_ORDER = {
    protocol.HEARTBEAT: apply_heartbeats,
    protocol.STATUS: apply_statuses,
    protocol.EVENTS: apply_events,
}
