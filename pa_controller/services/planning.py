"""Plan a broadcast's runs, and choose when "now" can start: as soon as the fleet can have the audio ready."""

import math
from datetime import datetime, timedelta

from sqlalchemy import func, select

from pa_controller import clock, settings
from pa_controller.domain import ApprovalState
from pa_controller.extensions import db
from pa_controller.models import Broadcast, Delivery, Run
from pa_protocol import Priority

READY_SAMPLE_RUNS = 20  # the latest runs whose clusters said `ready`, to learn how long the fleet takes
READY_SAMPLE_DAYS = 7
READY_MARGIN = 1.5  # times the 95th percentile, plus one second for the publisher to pick the commands up
UNMEASURED_LEAD_S = 30.0  # before any run was heard ready: 456 clusters on a doubly busy server took up to 15 s
EMERGENCY_LEAD_S = 10.0  # the longest an emergency waits for the fleet: a cluster ready later plays at once


def plan_runs(broadcast: Broadcast, now: datetime, *, immediate: bool = False) -> int:
    """Create the runs due within the planning horizon that do not exist yet; return how many."""
    config = settings.current()
    horizon = now + timedelta(hours=config.plan_horizon_h)
    after = broadcast.planned_until or now
    lead = timedelta(seconds=config.dispatch_lead_s)
    window = timedelta(milliseconds=broadcast.duration_ms, seconds=config.run_settle_s)
    created = 0
    existing = {r.start_at for r in broadcast.runs} if broadcast.id else set()
    for start_at in broadcast.schedule.occurrences(after, horizon):
        if start_at in existing:
            continue
        # "now" makes the first occurrence go at once; later ones keep the usual lead.
        dispatch_at = now if immediate and not created else max(now, start_at - lead)
        broadcast.runs.append(Run(start_at=start_at, dispatch_at=dispatch_at, closes_at=start_at + window))
        created += 1
    broadcast.planned_until = horizon
    return created


def extend_plans() -> int:
    """Plan runs of recurring broadcasts whose planning horizon is running out."""
    now = clock.now()
    soon = now + timedelta(hours=settings.current().plan_horizon_h / 2)
    # A one-off beyond the first horizon is planned here too, once its time comes near.
    query = select(Broadcast).where(
        Broadcast.cancelled_at.is_(None),
        Broadcast.approval == ApprovalState.APPROVED,  # one waiting for an approver has no runs yet
        Broadcast.planned_until < soon,
        Broadcast.rrule.is_not(None) | (Broadcast.start_at >= Broadcast.planned_until),
    ).with_for_update(skip_locked=True)  # a broadcast being edited right now is planned by its edit
    created = sum(plan_runs(b, now) for b in db.session.scalars(query))
    db.session.commit()
    return created


def fetch_history(now: datetime) -> tuple[float, float] | None:
    """How long recent runs' clusters took from dispatch to `ready` (95th percentile, seconds), and the largest
    load among those runs (clusters times seconds of audio), if any cluster said so.

    Both ends are the controller's own clock (a cluster's clock may be off by minutes).
    """
    recent = (select(Run.id).where(Run.dispatched_at >= now - timedelta(days=READY_SAMPLE_DAYS),
                                   Run.id.in_(select(Delivery.run_id).where(Delivery.ready_at.is_not(None))))
              .order_by(Run.dispatched_at.desc()).limit(READY_SAMPLE_RUNS))
    waits = sorted((ready_at - dispatched_at).total_seconds() for ready_at, dispatched_at in db.session.execute(
        select(Delivery.ready_at, Run.dispatched_at).join(Run).where(Run.id.in_(recent),
                                                                     Delivery.ready_at.is_not(None))))
    if not waits:
        return None
    loads = db.session.execute(
        select(func.count(Delivery.cluster_id), Broadcast.duration_ms).select_from(Delivery).join(Run).join(Broadcast)
        .where(Run.id.in_(recent)).group_by(Run.id, Broadcast.duration_ms))
    largest = max((count * (duration_ms or 0) / 1000 for count, duration_ms in loads), default=0.0)
    return max(0.0, waits[min(len(waits) - 1, math.ceil(0.95 * len(waits)) - 1)]), largest


def now_lead(now: datetime, load: float = 0.0, priority: Priority = Priority.NORMAL) -> timedelta:
    """How far ahead "now" starts, counted once the audio is ready and the commands are queued.

    What recent runs show the fleet needs to fetch and verify the audio (a busy server, a slow network), so that
    a normal item is not `late` anywhere, scaled up when this run's `load` (clusters times seconds of audio) is
    larger than any of theirs; UNMEASURED_LEAD_S before anything was measured; never less than NOW_LEAD_S nor
    more than DISPATCH_LEAD_S. An emergency is never `late` (a cluster plays it once ready), so it waits at most
    EMERGENCY_LEAD_S: a common start where the fleet is quick, sound soonest where it is not.
    """
    config = settings.current()
    history = fetch_history(now)
    if history is None:
        needed = UNMEASURED_LEAD_S
    else:
        waited, largest = history
        needed = READY_MARGIN * waited * max(1.0, load / largest if largest else 1.0) + 1.0
    if priority is Priority.EMERGENCY:
        needed = min(needed, EMERGENCY_LEAD_S)
    return timedelta(seconds=min(max(config.now_lead_s, needed), config.dispatch_lead_s))


def broadcasts_naming(key: str, value, now: datetime) -> list[Broadcast]:
    """Return the broadcasts not cancelled, with runs still ahead, whose targets name `value` among `key`."""
    recurring = Broadcast.rrule.is_not(None) & (Broadcast.until.is_(None) | (Broadcast.until >= now))
    live = select(Broadcast).where(Broadcast.cancelled_at.is_(None), (Broadcast.start_at >= now) | recurring)
    return [b for b in db.session.scalars(live.order_by(Broadcast.id)) if value in (b.targets or {}).get(key, [])]
