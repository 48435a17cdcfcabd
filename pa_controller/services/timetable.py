"""The district's timetable: when each broadcast occupies which clusters, and where two collide.

Two runs of the same priority overlapping on a cluster are a conflict (the clusters would play the later one
only after the first ends, which is rarely what either officer meant). A higher priority preempts a lower one,
and an emergency preempts everything, so neither is a conflict.
"""

from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _
from sqlalchemy import select

from pa_controller.errors import ValidationFailed
from pa_controller.extensions import db
from pa_controller.models import Broadcast, Run
from pa_controller.recurrence import Schedule
from pa_controller.services.proposals import resolve_targets
from pa_protocol import Priority, RunState

MAX_REPORTED = 20
OWN_RUNS = _("(các lượt của chính bản tin này)")


@dataclass(frozen=True, order=True)
class Slot:
    start: datetime
    end: datetime


@dataclass(frozen=True)
class Booking:
    """A stored broadcast's claim: its clusters and wards, and its slots within the window looked at."""

    broadcast: Broadcast
    cluster_ids: frozenset[str]
    ward_ids: frozenset[str]
    slots: list[Slot]


def slots(schedule: Schedule, duration_ms: int, after: datetime, before: datetime) -> list[Slot]:
    """Return the slots of a schedule that start within [after, before)."""
    length = timedelta(milliseconds=duration_ms)
    return [Slot(start, start + length) for start in schedule.occurrences(after, before)]


def bookings(after: datetime, before: datetime, *, exclude_id: int | None = None) -> list[Booking]:
    """Return the bookings of every broadcast still in force with a slot in [after, before)."""
    query = select(Broadcast).where(
        Broadcast.cancelled_at.is_(None),
        Broadcast.until.is_(None) | (Broadcast.until >= after),
        Broadcast.rrule.is_not(None) | (Broadcast.start_at >= after),  # past one-offs are history, not bookings
    )
    if exclude_id is not None:
        query = query.where(Broadcast.id != exclude_id)
    cancelled = set(db.session.execute(select(Run.broadcast_id, Run.start_at).where(
        Run.state == RunState.CANCELLED, Run.start_at >= after, Run.start_at < before)).tuples())
    found = []
    for broadcast in db.session.scalars(query):
        taken = [s for s in slots(broadcast.schedule, broadcast.duration_ms, after, before)
                 if (broadcast.id, s.start) not in cancelled]
        if not taken:
            continue
        try:
            clusters = resolve_targets(broadcast.targets)
        except ValidationFailed:  # its clusters have all been retired since
            continue
        wards = frozenset(w.ward_id for w in broadcast.wards)
        found.append(Booking(broadcast, frozenset(c.id for c in clusters), wards, taken))
    return found


def _overlaps(ours: list[Slot], theirs: list[Slot]):
    """Yield (our slot, their slot) pairs that overlap; `theirs` sorted, all of one length (one broadcast's)."""
    if not theirs:
        return
    length = theirs[0].end - theirs[0].start
    starts = [b.start for b in theirs]
    for a in ours:
        for b in theirs[bisect_right(starts, a.start - length):bisect_left(starts, a.end)]:
            if a.start < b.end:
                yield a, b


def conflicts(priority: Priority, cluster_ids: frozenset[str], ours: list[Slot], others: list[Booking]) -> list[dict]:
    """Return the collisions of a proposed broadcast with stored ones of the same priority, first ones first."""
    if priority is Priority.EMERGENCY:
        return []
    found = [{"broadcast_id": None, "title": OWN_RUNS, "start_at": a.start, "end_at": a.end,
              "proposed_start_at": b.start, "proposed_end_at": b.end, "clusters": [], "cluster_count": len(cluster_ids)}
             for a, b in zip(ours, ours[1:], strict=False) if b.start < a.end]
    for booking in others:
        if booking.broadcast.priority is not priority:
            continue
        shared = cluster_ids & booking.cluster_ids
        if not shared:
            continue
        for mine, theirs in _overlaps(ours, booking.slots):
            found.append({
                "broadcast_id": booking.broadcast.id, "title": booking.broadcast.title,
                "start_at": theirs.start, "end_at": theirs.end, "proposed_start_at": mine.start,
                "proposed_end_at": mine.end, "clusters": sorted(shared)[:MAX_REPORTED], "cluster_count": len(shared),
            })
    found.sort(key=lambda c: c["proposed_start_at"])
    return found[:MAX_REPORTED]
