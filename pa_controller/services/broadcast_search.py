"""Finding broadcasts: by ward, by the state of their runs and by local days, newest first, a page at a time."""

import math
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime

from flask_babel import lazy_gettext as _
from sqlalchemy import exists, select

from pa_controller import clock
from pa_controller.errors import ValidationFailed
from pa_controller.extensions import db
from pa_controller.models import Broadcast, BroadcastWard, Run, User
from pa_controller.recurrence import local_day_bounds
from pa_controller.services import access, fleet
from pa_protocol import RunState

PER_PAGE = 50


@dataclass(frozen=True)
class BroadcastQuery:
    """What the list's filters ask: a ward, a run state, a span of local days, and whether cancelled ones show."""

    ward: str | None = None
    state: RunState | None = None
    since: date | None = None
    until: date | None = None
    cancelled: bool = False
    page: int = 1

    def args(self, **changes) -> dict:
        """The query string of these filters with `changes`, for links to other pages."""
        changed = replace(self, **changes)
        values = {"ward": changed.ward, "state": changed.state and changed.state.value,
                  "from": changed.since and changed.since.isoformat(),
                  "to": changed.until and changed.until.isoformat(),
                  "cancelled": "1" if changed.cancelled else None, "page": changed.page}
        return {key: value for key, value in values.items() if value not in (None, "", 1)}

    def window(self) -> tuple[datetime | None, datetime | None]:
        """The UTC instants the local days span (None where open)."""
        return (local_day_bounds(self.since)[0] if self.since else None,
                local_day_bounds(self.until)[1] if self.until else None)


@dataclass(frozen=True)
class BroadcastPage:
    query: BroadcastQuery
    broadcasts: list[Broadcast]
    total: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / PER_PAGE))


def _check(user: User, query: BroadcastQuery) -> None:
    if query.since and query.until and query.since > query.until:
        raise ValidationFailed(_("Ngày bắt đầu phải trước hoặc bằng ngày kết thúc."), fields={"from": "after_to"})
    if query.ward is not None:
        fleet.require_visible_ward(user, query.ward)


def _scoped(user: User, query: BroadcastQuery, statement):
    if (scope := access.ward_scope(user)) is not None:
        statement = statement.where(Broadcast.id.in_(BroadcastWard.reaching(scope)))
    if query.ward is not None:
        statement = statement.where(Broadcast.id.in_(BroadcastWard.reaching({query.ward})))
    return statement


def _by_runs(query: BroadcastQuery, after: datetime | None, before: datetime | None):
    """The condition "has a run in the state and window asked", or None when nothing about runs is asked."""
    if query.state is None and after is None and before is None:
        return None
    runs = select(Run.id).where(Run.broadcast_id == Broadcast.id)
    if query.state is not None:
        runs = runs.where(Run.state == query.state)
    if after is not None:
        runs = runs.where(Run.start_at >= after)
    if before is not None:
        runs = runs.where(Run.start_at < before)
    return exists(runs)


def _unplanned(user: User, query: BroadcastQuery, after: datetime | None, before: datetime | None,
               skip: set[int]) -> Iterable[Broadcast]:
    """Yield broadcasts still in force with an occurrence in the window that has no run yet (planned later)."""
    now = clock.now()
    start = max(now, after) if after is not None else now
    statement = _scoped(user, query, select(Broadcast).where(
        Broadcast.cancelled_at.is_(None), Broadcast.until.is_(None) | (Broadcast.until >= start),
        Broadcast.rrule.is_not(None) | (Broadcast.start_at >= start)))
    if before is not None:
        statement = statement.where(Broadcast.start_at < before)
    for broadcast in db.session.scalars(statement):
        if broadcast.id in skip:
            continue
        frontier = max(start, broadcast.planned_until or start)  # every occurrence before it has its run
        ahead = broadcast.schedule.next(frontier, 1)
        if ahead and (before is None or ahead[0] < before):
            yield broadcast


def search(user: User, query: BroadcastQuery) -> BroadcastPage:
    """Return one page of the broadcasts the filters select among those the user may see, newest first."""
    _check(user, query)
    after, before = query.window()
    statement = _scoped(user, query, select(Broadcast.id, Broadcast.created_at))
    if query.state is None and not query.cancelled:
        statement = statement.where(Broadcast.cancelled_at.is_(None))
    condition = _by_runs(query, after, before)
    if query.state is RunState.CANCELLED and after is None and before is None:
        condition = condition | Broadcast.cancelled_at.is_not(None)
    found = dict(db.session.execute(statement if condition is None else statement.where(condition)).tuples().all())
    if condition is not None and query.state in (None, RunState.SCHEDULED):
        found |= {b.id: b.created_at for b in _unplanned(user, query, after, before, set(found))}
    ordered = sorted(found, key=lambda i: (found[i], i), reverse=True)
    shown = ordered[(query.page - 1) * PER_PAGE:query.page * PER_PAGE]
    rows = {b.id: b for b in db.session.scalars(select(Broadcast).where(Broadcast.id.in_(shown)))} if shown else {}
    return BroadcastPage(query=query, broadcasts=[rows[i] for i in shown], total=len(ordered))
