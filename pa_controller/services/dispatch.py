"""Dispatch a run: one `play` per target cluster, committed to the outbox with its deliveries."""

import logging
from datetime import timedelta

from sqlalchemy import insert, select, update

from pa_controller import clock, settings
from pa_controller.domain import REJECTION_NOTE, ProgrammeKind
from pa_controller.errors import ValidationFailed
from pa_controller.extensions import db
from pa_controller.models import Broadcast, Delivery, Run
from pa_controller.services import commands
from pa_controller.services.proposals import resolve_targets
from pa_protocol import FINAL_DELIVERY_STATES, DeliveryState, Priority, RunState

log = logging.getLogger(__name__)
EARLY_TOLERANCE = timedelta(seconds=1)


def _claim(run_id: int, now) -> bool:
    """Move a run from scheduled to dispatched exactly once, whoever else tries, unless its broadcast was cancelled."""
    cancelled = select(Broadcast.id).where(Broadcast.cancelled_at.is_not(None))
    result = db.session.execute(
        update(Run)
        .where(Run.id == run_id, Run.state == RunState.SCHEDULED, Run.broadcast_id.not_in(cancelled))
        .values(state=RunState.DISPATCHED, dispatched_at=now)
    )
    return result.rowcount == 1


def _too_late(run: Run, now) -> str | None:
    """Say why a run can no longer go out, if so.

    Past its window nothing can play. Within it, a live relay can still be joined and an emergency still
    matters; a recorded normal or priority item that cannot start on time is not played mid-clip (PROTOCOL.md).
    """
    broadcast = run.broadcast
    if now >= run.closes_at or (broadcast.kind is ProgrammeKind.RELAY
                                and now >= run.start_at + timedelta(milliseconds=broadcast.duration_ms)):
        return "its window closed before the controller could dispatch it"
    grace = timedelta(seconds=settings.current().late_grace_s)
    recorded = broadcast.kind is ProgrammeKind.PLAY
    if now > run.start_at + grace and recorded and broadcast.priority is not Priority.EMERGENCY:
        return "the controller could not dispatch it before its start time"
    return None


def dispatch_run(run_id: int) -> int:
    """Send a run to its clusters; return the number of commands queued (0 if already dispatched)."""
    now = clock.now()
    run = db.session.get(Run, run_id)
    if run is None or run.state is not RunState.SCHEDULED:
        return 0
    if now < run.dispatch_at - EARLY_TOLERANCE:  # a job left from before an edit moved this run
        return 0
    if run.broadcast.cancelled_at is not None:  # planned while its cancel was being saved
        run.state, run.reason = RunState.CANCELLED, "broadcast cancelled"
        db.session.commit()
        return 0
    if reason := _too_late(run, now):
        run.state, run.reason = RunState.MISSED, reason
        db.session.commit()
        log.warning("run %s missed, %.1f s after its start: %s", run.id, (now - run.start_at).total_seconds(), reason)
        return 0
    if not _claim(run_id, now):
        db.session.rollback()
        return 0
    try:
        clusters = resolve_targets(run.broadcast.targets)
    except ValidationFailed as exc:  # every cluster it names was retired or moved away since it was saved
        run.state, run.reason = RunState.MISSED, "no cluster in service to send it to"
        db.session.commit()
        log.warning("run %s missed: %s", run.id, exc.message)
        return 0
    (ctype, fields), expires_at = commands.run_command(run), commands.run_expiry(run)
    deliveries, rows = [], []
    for cluster in clusters:
        command = commands.new_command(cluster.id, ctype, now, expires_at, **fields)
        deliveries.append(
            {"run_id": run.id, "cluster_id": cluster.id, "cmd_id": command["id"], "state": DeliveryState.PENDING}
        )
        rows.append(commands.outbox_row(command, now, expires_at))
    db.session.execute(insert(Delivery), deliveries)
    commands.queue(rows)
    db.session.commit()
    log.info("run %s dispatched to %d clusters", run.id, len(rows))
    return len(rows)


def due_runs(horizon_s: float) -> list[tuple[int, object]]:
    """Return (run id, dispatch time) of scheduled runs due within the horizon."""
    limit = clock.now() + timedelta(seconds=horizon_s)
    query = select(Run.id, Run.dispatch_at).where(Run.state == RunState.SCHEDULED, Run.dispatch_at <= limit)
    return list(db.session.execute(query.order_by(Run.dispatch_at)))


def close_runs() -> int:
    """Finish runs every cluster has finished, and runs whose window has closed (the silent are `missed`)."""
    now = clock.now()
    unfinished = select(Delivery.run_id).where(Delivery.state.not_in(FINAL_DELIVERY_STATES))
    closing = list(db.session.scalars(
        select(Run.id).where(Run.state == RunState.DISPATCHED, (Run.closes_at < now) | Run.id.not_in(unfinished))
    ))
    if not closing:
        return 0
    noted = select(Delivery).where(Delivery.run_id.in_(closing), Delivery.state == DeliveryState.PENDING,
                                   Delivery.detail.is_not(None))
    for delivery in db.session.scalars(noted):
        if REJECTION_NOTE in delivery.detail:  # nothing but a rejection was heard: that is its answer
            delivery.state, delivery.at = DeliveryState.REJECTED, now
    db.session.execute(
        update(Delivery)
        .where(Delivery.run_id.in_(closing), Delivery.state == DeliveryState.PENDING)
        .values(state=DeliveryState.MISSED, at=now)
    )
    db.session.execute(update(Run).where(Run.id.in_(closing)).values(state=RunState.FINISHED))
    db.session.commit()
    return len(closing)
