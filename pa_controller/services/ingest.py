"""Apply what clusters report: statuses, heartbeats and delivery events, in batches."""

import functools
import logging
from collections import Counter
from collections.abc import Collection
from datetime import datetime

from sqlalchemy import case, select, true, update

import pa_protocol as protocol
from pa_controller.domain import REJECTION_NOTE, ClusterStatus, RefusalKind, ReportRefusal
from pa_controller.extensions import db
from pa_controller.messaging.inbox import UNREADABLE
from pa_controller.models import ClusterState, Delivery, FleetCommand, OutboxMessage
from pa_controller.services import refusals, telemetry
from pa_controller.services.bulk import BulkStatement
from pa_protocol import DeliveryState, EventState, RejectReason, parse_time

log = logging.getLogger(__name__)
IN_HAND = (DeliveryState.RECEIVED, DeliveryState.READY, DeliveryState.PLAYING)  # what a reboot loses
HAS_AUDIO = (DeliveryState.READY, DeliveryState.PLAYING, DeliveryState.DONE)  # the first of these times the fetch
LOST_IN_REBOOT = {"reason": "rebooted", "message": "the cluster restarted before reporting an end", "inferred": True}
HEARTBEAT_FIELDS = ("seq", "uptime_s", "playing", "volume", "rssi_dbm", "temp_c", "speakers_ok",
                    "speakers_total", "amp_ok", "fw")


def _known(messages: list[tuple[str, dict]], now: datetime):
    """Yield (state, payload) for the messages of clusters in the registry; the others are refused and counted.

    The states are locked (PostgreSQL), in one order, and read as they are once the lock is had: two ingest
    processes may hold one cluster's birth and will at once, and the second must judge against what the first
    wrote, not against what both read before (tests/services/test_ingest_concurrency.py).
    """
    cids = {cid for cid, _ in messages}
    query = (select(ClusterState).where(ClusterState.cluster_id.in_(cids)).order_by(ClusterState.cluster_id)
             .with_for_update().execution_options(populate_existing=True))
    states = {state.cluster_id: state for state in db.session.scalars(query)}
    _refuse_unknown(messages, states.keys(), now)
    for cid, payload in messages:
        if (state := states.get(cid)) is not None:
            yield state, payload


def _registered(messages: list[tuple[str, dict]]) -> set[str]:
    """Return the clusters of these messages that are in the registry."""
    cids = {cid for cid, _ in messages}
    return set(db.session.scalars(select(ClusterState.cluster_id).where(ClusterState.cluster_id.in_(cids))))


def _refuse_unknown(messages: list[tuple[str, dict]], known: Collection[str], now: datetime) -> None:
    """Count the reports on the topics of clusters not in the registry: refused, never applied."""
    refusals.count(Counter((cid, RefusalKind.REPORT, ReportRefusal.UNKNOWN_CLUSTER) for cid, _ in messages
                           if cid not in known), now)


def _stale_will(state: ClusterState, will: dict) -> bool:
    """A will of an older connection than the latest birth's: another boot, or an earlier connection of this
    boot (a dropped link's will can arrive after the quick reconnect's birth).

    The will is fixed at CONNECT, before the birth, so what orders them must be known then: the boot and the
    connection counter, never the `at` (earlier in every will). A will of a later connection than the birth
    is current: that connection died before its birth went out. Firmware without `conn` is told by boot alone.
    """
    if state.boot_id is None:
        return False
    if will["boot_id"] != state.boot_id:
        return True
    return None not in (will.get("conn"), state.conn) and will["conn"] < state.conn


def apply_statuses(messages: list[tuple[str, dict]], now: datetime) -> int:
    """Record births and wills; the will of an older connection than the current birth's is ignored."""
    applied, rebooted = 0, []
    for state, payload in _known(messages, now):
        if not payload["online"] and _stale_will(state, payload):
            log.info("ignored stale will of %s (boot %s conn %s; born boot %s conn %s)", state.cluster_id,
                     payload["boot_id"], payload.get("conn"), state.boot_id, state.conn)
            continue
        if payload["online"] and state.boot_id not in (None, payload["boot_id"]):
            rebooted.append(state.cluster_id)
        if payload["online"]:
            state.conn = payload.get("conn")
        state.online = payload["online"]
        state.boot_id = payload["boot_id"]
        state.status = ClusterStatus.ONLINE if payload["online"] else ClusterStatus.OFFLINE
        state.status_at = now
        state.last_seen = now
        state.fw = payload.get("fw", state.fw)
        applied += 1
    if rebooted:
        _lost_in_reboot(rebooted, now)
    return applied


def _lost_in_reboot(cluster_ids: list[str], now: datetime) -> None:
    """A new boot holds none of the runs its cluster had received, armed or was playing: they are `failed`.

    A power cut or crash says nothing; without this, a run cut mid-sound stayed `playing` for good. The
    controller infers it (`detail.inferred`), so the cluster's own final word, if a report from before
    the reboot still comes, replaces it (see _advance).
    """
    query = (select(Delivery).where(Delivery.cluster_id.in_(cluster_ids), Delivery.state.in_(IN_HAND))
             .with_for_update())
    for delivery in db.session.scalars(query):
        log.warning("%s rebooted holding run %s (%s): failed", delivery.cluster_id, delivery.run_id,
                    delivery.state.value)
        delivery.detail = {**(delivery.detail or {}), **LOST_IN_REBOOT, "was": delivery.state.value}
        delivery.state, delivery.at = DeliveryState.FAILED, now


def apply_heartbeats(messages: list[tuple[str, dict]], now: datetime) -> int:
    """Keep each cluster's latest heartbeat (one UPDATE per batch), and the history of all of them."""
    known = _registered(messages)
    _refuse_unknown(messages, known, now)
    messages = [(cid, payload) for cid, payload in messages if cid in known]
    latest: dict[str, dict] = {}  # each cluster's heartbeats of the batch applied in turn, as one
    for cid, payload in messages:
        latest[cid] = {**latest[cid], **payload} if cid in latest else payload
    by_fields: dict[tuple[str, ...], list[tuple]] = {}
    for cid, payload in latest.items():
        fields = tuple(name for name in HEARTBEAT_FIELDS if name in payload)  # a field left out keeps its value
        by_fields.setdefault(fields, []).append(
            (cid, payload["boot_id"], payload["state"], *(payload[name] for name in fields)))
    connection = db.session.connection()
    for fields, rows in by_fields.items():
        _state_update(fields).run(connection, rows, now=now, online=ClusterStatus.ONLINE)
    telemetry.record(messages, now)
    return len(messages)


@functools.cache
def _state_update(fields: tuple[str, ...]) -> BulkStatement:
    """The UPDATE of ClusterState for heartbeats that carry `fields`.

    A heartbeat proves the session is up even if its birth was missed: a cluster not online becomes online
    with the heartbeat's boot (and no connection count, if that boot is new); one already online keeps the
    boot of its birth.
    """
    def build(rows, insert, now, online):
        state = ClusterState.__table__.c
        return update(ClusterState.__table__).where(state.cluster_id == rows.c.cluster_id).values(
            **{name: rows.c[name] for name in fields}, activity=rows.c.activity, heartbeat_at=now, last_seen=now,
            boot_id=case((state.online, state.boot_id), else_=rows.c.boot_id),
            conn=case((state.online | (state.boot_id == rows.c.boot_id), state.conn), else_=None),  # of that boot
            online=true(), status=online)

    shared = {"now": ClusterState.heartbeat_at.type, "online": ClusterState.status.type}
    return BulkStatement(ClusterState.__table__, ("cluster_id", "boot_id", "activity", *fields), shared, build)


def _advance(record: Delivery | FleetCommand, payload: dict) -> bool:
    """Move a delivery or a fleet command to an event's state unless that would move it backwards.

    A failure the controller only inferred (a reboot) gives way to the cluster's own final word.
    """
    new = DeliveryState(payload["state"])
    if new is DeliveryState.REJECTED:
        return _note_rejection(record, payload)
    old = record.state
    inferred = (record.detail or {}).get("inferred", False)
    if inferred and new.is_final:
        record.detail = None
    elif old.is_final or (not new.is_final and new.progress <= old.progress):
        return False
    record.state = new
    record.at = parse_time(payload["at"])
    if payload.get("detail"):
        record.detail = {**(record.detail or {}), **payload["detail"]}
    return True


def _note_rejection(record: Delivery | FleetCommand, payload: dict) -> bool:
    """Note that the cluster rejected a payload carrying this command's id, without making it final.

    Whoever can publish on the cluster's `cmd` topic can make it reject a copy of a real command (its signature
    broken, or not even JSON), and the cluster answers with the real id. So the rejection names a payload, not
    necessarily the command the controller sent: it becomes the record's state only if nothing else is heard of
    the command before its run closes or it expires (dispatch.close_runs, remote.effective_state).
    """
    if record.state.is_final:
        return False
    note = {"reason": _reject_reason(payload), "at": payload["at"]}
    record.detail = {**(record.detail or {}), REJECTION_NOTE: note}
    return True


def apply_events(messages: list[tuple[str, dict]], now: datetime) -> int:
    """Advance deliveries and remote commands; a state never moves backwards, and a final state is final.

    An event counts only for the cluster of its topic and only about what the controller sent that cluster
    (`_refusal`); anything else is refused, counted per cluster and reason (services/refusals.py), never applied.
    """
    by_cmd: dict[str, list[tuple[str, dict]]] = {}
    for cid, payload in messages:
        by_cmd.setdefault(payload["cmd_id"], []).append((cid, payload))
    # Row locks (PostgreSQL) serialise this with a concurrent cancel, so a final state stays final.
    deliveries = list(db.session.scalars(select(Delivery).where(Delivery.cmd_id.in_(by_cmd)).with_for_update()))
    # Most events answer plays; only the rest can be remote commands (set_volume, test_tone, reboot).
    others = set(by_cmd) - {d.cmd_id for d in deliveries}
    fleet_commands = db.session.scalars(select(FleetCommand).where(FleetCommand.cmd_id.in_(others))) if others else []
    records: dict[str, Delivery | FleetCommand] = {r.cmd_id: r for r in [*deliveries, *fleet_commands]}
    targets = {cmd_id: record.cluster_id for cmd_id, record in records.items()} | _outbox_targets(
        set(by_cmd) - set(records))
    applied, refused, known = 0, Counter(), _registered(messages)
    for cmd_id, reports in by_cmd.items():
        record = records.get(cmd_id)
        for cid, payload in reports:
            if cid not in known:
                refused[cid, RefusalKind.REPORT, ReportRefusal.UNKNOWN_CLUSTER] += 1
            elif (refusal := _refusal(record, targets.get(cmd_id), cid, payload)) is not None:
                refused[(cid, *refusal)] += 1
            else:
                applied += _apply_event(record, payload, now)
    refusals.count(refused, now)
    return applied


def _apply_event(record: Delivery | FleetCommand | None, payload: dict, now: datetime) -> int:
    """Advance the record an accepted event is about; return 1 if it moved, else 0."""
    if record is None or not _advance(record, payload):
        return 0
    if isinstance(record, Delivery) and record.ready_at is None and record.state in HAS_AUDIO:
        record.ready_at = now
    return 1


def _outbox_targets(cmd_ids: set[str]) -> dict[str, str]:
    """Return the cluster each of these commands went to, for those the controller sent (a cancel, a stop)."""
    if not cmd_ids:
        return {}
    rows = db.session.execute(select(OutboxMessage.cmd_id, OutboxMessage.topic).where(
        OutboxMessage.cmd_id.in_(cmd_ids)))
    return {cmd_id: topic.rsplit("/", 2)[-2] for cmd_id, topic in rows}


def _refusal(record: Delivery | FleetCommand | None, target: str | None, cid: str,
             payload: dict) -> tuple[RefusalKind, str] | None:
    """Return why an event from cluster `cid` is not applied, or None to apply it.

    - about a command the controller never sent to `cid`: a `rejected` is a forged command the cluster refused
      (the security signal), anything else a report the controller refuses;
    - a run_id that is not the run of the command it names: refused;
    - a `rejected` about a command whose record is already final answers a copy of it, replayed: a forged
      command too, and nothing to apply.
    """
    rejected = payload["state"] == EventState.REJECTED
    if target != cid:
        if rejected:
            return RefusalKind.FORGED_COMMAND, _reject_reason(payload)
        return RefusalKind.REPORT, (ReportRefusal.UNKNOWN_COMMAND if target is None else ReportRefusal.OTHER_CLUSTER)
    run_id = payload.get("run_id")
    if record is not None and run_id is not None and run_id != (
            str(record.run_id) if isinstance(record, Delivery) else None):
        return RefusalKind.REPORT, ReportRefusal.WRONG_RUN
    if rejected and record is not None and record.state.is_final and not (record.detail or {}).get("inferred"):
        return RefusalKind.FORGED_COMMAND, _reject_reason(payload)
    return None


def _reject_reason(payload: dict) -> str:
    reason = (payload.get("detail") or {}).get("reason")
    return reason if isinstance(reason, str) and reason in RejectReason._value2member_map_ else "other"


def apply_unreadable(messages: list[tuple[str | None, dict]], now: datetime) -> int:
    """Count reports that broke the contract (the inbox could not decode them) against the cluster of their topic;
    one on a topic that names no cluster (cid None) is counted for the district alone."""
    refusals.count(Counter((cid, RefusalKind.REPORT, payload["reason"] if cid is not None
                            else ReportRefusal.NOT_A_CLUSTER_TOPIC) for cid, payload in messages), now)
    return 0


# Heartbeats before statuses: a will that arrives in the same batch as the last
# heartbeats of that session must have the last word.
APPLY_IN_ORDER = {
    protocol.HEARTBEAT: apply_heartbeats,
    protocol.STATUS: apply_statuses,
    protocol.EVENTS: apply_events,
    UNREADABLE: apply_unreadable,
}
