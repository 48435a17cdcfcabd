"""Run reports: who played, who did not, by state and by ward."""

from collections import Counter
from dataclasses import dataclass

from sqlalchemy import select

from pa_controller.domain import DeliveryState
from pa_controller.errors import NotFound
from pa_controller.extensions import db
from pa_controller.models import Cluster, Delivery, Run, User
from pa_controller.services import access


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

    @property
    def unfinished(self) -> list[tuple[Delivery, Cluster]]:
        return [(d, c) for d, c in self.deliveries if d.state is not DeliveryState.DONE]


def get_run(user: User, run_id: int) -> Run:
    run = db.session.get(Run, run_id)
    if run is None:
        raise NotFound(f"run {run_id} does not exist")
    wards = set(db.session.scalars(
        select(Cluster.ward_id).join(Delivery, Delivery.cluster_id == Cluster.id).where(Delivery.run_id == run_id)
    ))
    access.require_wards(user, wards)
    return run


def run_report(user: User, run_id: int) -> RunReport:
    """Return the report of one run the user may see."""
    run = get_run(user, run_id)
    rows = list(db.session.execute(
        select(Delivery, Cluster).join(Cluster, Delivery.cluster_id == Cluster.id)
        .where(Delivery.run_id == run_id).order_by(Cluster.id)
    ).tuples())
    counts, by_ward = Counter(), {}
    for delivery, cluster in rows:
        counts[delivery.state] += 1
        by_ward.setdefault(cluster.ward_id, Counter())[delivery.state] += 1
    return RunReport(run=run, counts=counts, by_ward=by_ward, deliveries=rows)


def list_runs(user: User, broadcast_id: int | None = None, limit: int = 100) -> list[Run]:
    """Return runs newest first, only those touching the user's wards."""
    query = select(Run).order_by(Run.start_at.desc()).limit(limit)
    if broadcast_id is not None:
        query = query.where(Run.broadcast_id == broadcast_id)
    scope = access.ward_scope(user)
    if scope is not None:
        in_scope = select(Delivery.run_id).join(Cluster, Delivery.cluster_id == Cluster.id).where(
            Cluster.ward_id.in_(scope))
        query = query.where(Run.id.in_(in_scope))
    return list(db.session.scalars(query))
