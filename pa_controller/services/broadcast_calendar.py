"""What sounds when, over some local days: the runs planned, and the occurrences the schedule has not planned yet."""

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select

from pa_controller.extensions import db
from pa_controller.models import Broadcast, BroadcastWard, Run, User
from pa_controller.recurrence import local_day_bounds
from pa_controller.services import access, fleet
from pa_protocol import RunState


@dataclass(frozen=True)
class Entry:
    """One time a broadcast sounds: its run, or None for an occurrence the planner has not reached yet."""

    broadcast: Broadcast
    start: datetime
    run: Run | None
    ward_ids: tuple[str, ...]  # the wards it reaches among those asked about

    @property
    def end(self) -> datetime:
        return self.start + timedelta(milliseconds=self.broadcast.duration_ms)


def _scope(user: User, ward_id: str | None) -> set[str] | None:
    """The wards asked about: one of the user's, or all the user may see (None: the district)."""
    if ward_id is None:
        return access.ward_scope(user)
    fleet.require_visible_ward(user, ward_id)
    return {ward_id}


def _reached(broadcast: Broadcast, scope: set[str] | None) -> tuple[str, ...]:
    wards = {w.ward_id for w in broadcast.wards}
    return tuple(sorted(wards if scope is None else wards & scope))


def entries(user: User, ward_id: str | None, first_day: date, days: int, now: datetime) -> list[Entry]:
    """Return what sounds in a ward of the user's (or all theirs) on `days` local days from first_day, in order."""
    scope = _scope(user, ward_id)
    after, before = local_day_bounds(first_day)[0], local_day_bounds(first_day + timedelta(days=days - 1))[1]
    runs = select(Run).where(Run.start_at >= after, Run.start_at < before).order_by(Run.start_at)
    broadcasts = select(Broadcast).where(
        Broadcast.cancelled_at.is_(None), Broadcast.start_at < before,
        Broadcast.until.is_(None) | (Broadcast.until >= max(after, now)),
        Broadcast.rrule.is_not(None) | (Broadcast.start_at >= max(after, now)))
    if scope is not None:
        runs = runs.where(Run.broadcast_id.in_(BroadcastWard.reaching(scope)))
        broadcasts = broadcasts.where(Broadcast.id.in_(BroadcastWard.reaching(scope)))
    found, planned = [], set()
    for run in db.session.scalars(runs):
        planned.add((run.broadcast_id, run.start_at))  # a cancelled run keeps its occurrence from showing again
        if run.state is not RunState.CANCELLED:
            found.append(Entry(run.broadcast, run.start_at, run, _reached(run.broadcast, scope)))
    for broadcast in db.session.scalars(broadcasts):
        found += [Entry(broadcast, moment, None, _reached(broadcast, scope))
                  for moment in broadcast.schedule.occurrences(max(after, now), before)
                  if (broadcast.id, moment) not in planned]
    return sorted(found, key=lambda e: (e.start, e.broadcast.id))
