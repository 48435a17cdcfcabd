"""Run reports: who played, who did not, by state and by ward."""

from collections import Counter
from dataclasses import dataclass

from flask_babel import lazy_gettext as _
from sqlalchemy import select

from pa_controller.errors import NotFound
from pa_controller.extensions import db
from pa_controller.models import BroadcastWard, Cluster, Delivery, Run, User
from pa_controller.services import access
from pa_controller.services.proposals import MAX_ID
from pa_protocol import DeliveryState, RunState


@dataclass
class RunReport:
    run: Run
    counts: Counter
    by_ward: dict[str, Counter]
    deliveries: list[tuple[Delivery, Cluster]]

    @property
    def total(self) -> int:
        return len(self.deliveries)

    @property
    def done(self) -> int:
        return self.counts.get(DeliveryState.DONE, 0)


def find_run(user: User, run_id: int, *, every_ward: bool = False) -> Run:
    """Return a run that reaches the user's wards (with `every_ward`, only their wards); another ward's run is
    answered as a missing one."""
    run = db.session.get(Run, run_id) if 1 <= run_id <= MAX_ID else None
    return access.require_seen(user, run, lambda r: {w.ward_id for w in r.broadcast.wards},
                               NotFound(_("Không có lượt phát số %(id)s.", id=run_id)), every_ward=every_ward)


def get_run(user: User, run_id: int) -> Run:
    """Return a run the user may act on: every ward it reaches is theirs."""
    return find_run(user, run_id, every_ward=True)


def run_report(user: User, run_id: int) -> RunReport:
    """Return the report of a run that touches the user's wards, reduced to the clusters of those wards."""
    run = find_run(user, run_id)
    query = (select(Delivery, Cluster).join(Cluster, Delivery.cluster_id == Cluster.id)
             .where(Delivery.run_id == run_id).order_by(Cluster.id))
    if (scope := access.ward_scope(user)) is not None:
        query = query.where(Cluster.ward_id.in_(scope))
    rows = list(db.session.execute(query).tuples())
    counts, by_ward = Counter(), {}
    for delivery, cluster in rows:
        counts[delivery.state] += 1
        by_ward.setdefault(cluster.ward_id, Counter())[delivery.state] += 1
    return RunReport(run=run, counts=counts, by_ward=by_ward, deliveries=rows)


def list_runs(user: User, broadcast_id: int | None = None, limit: int = 100, *, upcoming: bool | None = None,
              state: RunState | None = None) -> list[Run]:
    """Return runs of the user's wards: newest first, or with upcoming=True the next scheduled ones first."""
    query = select(Run).limit(limit)
    if state is not None:
        query = query.where(Run.state == state)
    if upcoming:
        query = query.where(Run.state == RunState.SCHEDULED).order_by(Run.start_at)
    else:
        query = query.order_by(Run.start_at.desc())
        if upcoming is False:
            query = query.where(Run.state != RunState.SCHEDULED)
    if broadcast_id is not None:
        query = query.where(Run.broadcast_id == broadcast_id)
    scope = access.ward_scope(user)
    if scope is not None:
        query = query.where(Run.broadcast_id.in_(BroadcastWard.reaching(scope)))
    return list(db.session.scalars(query))
