"""A run as it plays: counts by state and by ward, and its clusters page by page, those that did not play first."""

import math
from collections import Counter
from dataclasses import dataclass, replace

from sqlalchemy import Select, case, func, select

from pa_controller.extensions import db
from pa_controller.models import Cluster, Delivery, Run, User
from pa_controller.services import access
from pa_controller.services.reports import find_run
from pa_protocol import FINAL_DELIVERY_STATES, DeliveryState, RunState

PER_PAGE = 50
# Final, and not played: what a report upward must explain. A cancellation is someone's decision, not a fault.
NOT_PLAYED = frozenset(FINAL_DELIVERY_STATES - {DeliveryState.DONE, DeliveryState.CANCELLED})
FINAL_RUN_STATES = frozenset({RunState.FINISHED, RunState.CANCELLED, RunState.MISSED})


@dataclass(frozen=True)
class RunProgress:
    run: Run
    by_ward: dict[str, Counter]  # ward id → deliveries by state, only the reader's wards

    @property
    def counts(self) -> Counter:
        return sum(self.by_ward.values(), Counter())

    @property
    def total(self) -> int:
        return self.counts.total()

    @property
    def done(self) -> int:
        return self.counts[DeliveryState.DONE]

    @property
    def not_played(self) -> int:
        return sum(n for state, n in self.counts.items() if state in NOT_PLAYED)

    @property
    def final(self) -> bool:
        """Nothing will change any more: the page stops asking."""
        return self.run.state in FINAL_RUN_STATES


@dataclass(frozen=True)
class ClusterQuery:
    """Which of a run's clusters to list: one ward, one state, which page."""

    ward: str | None = None
    state: DeliveryState | None = None
    page: int = 1

    def args(self, **changes) -> dict:
        """The query string of these filters with `changes`, for links to other pages."""
        changed = replace(self, **changes)
        values = {"ward": changed.ward, "state": changed.state and changed.state.value, "page": changed.page}
        return {key: value for key, value in values.items() if value not in (None, "", 1)}


@dataclass(frozen=True)
class ClusterPage:
    query: ClusterQuery
    rows: list[tuple[Delivery, Cluster]]
    total: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / PER_PAGE))


def _visible_run(user: User, run_id: int) -> Run:
    return find_run(user, run_id)


def _scoped(statement: Select, user: User, run_id: int) -> Select:
    statement = statement.join(Cluster, Delivery.cluster_id == Cluster.id).where(Delivery.run_id == run_id)
    if (scope := access.ward_scope(user)) is not None:
        statement = statement.where(Cluster.ward_id.in_(scope))
    return statement


def progress(user: User, run_id: int) -> RunProgress:
    """Count a run's deliveries by ward and state, within the wards the user may see."""
    run = _visible_run(user, run_id)
    counted = _scoped(select(Cluster.ward_id, Delivery.state, func.count()).select_from(Delivery), user, run_id)
    by_ward: dict[str, Counter] = {}
    for ward_id, state, n in db.session.execute(counted.group_by(Cluster.ward_id, Delivery.state)):
        by_ward.setdefault(ward_id, Counter())[state] = n
    return RunProgress(run, by_ward)


def clusters(user: User, run_id: int, query: ClusterQuery) -> ClusterPage:
    """Return one page of a run's clusters: those that did not play first, then those still under way, then the rest."""
    _visible_run(user, run_id)
    statement = _scoped(select(Delivery, Cluster), user, run_id)
    if query.ward:
        statement = statement.where(Cluster.ward_id == query.ward)
    if query.state:
        statement = statement.where(Delivery.state == query.state)
    total = db.session.scalar(select(func.count()).select_from(statement.subquery()))
    first = case((Delivery.state.in_(NOT_PLAYED), 0), (Delivery.state.not_in(FINAL_DELIVERY_STATES), 1), else_=2)
    page = (statement.order_by(first, Cluster.ward_id, Cluster.id)
            .limit(PER_PAGE).offset((query.page - 1) * PER_PAGE))
    return ClusterPage(query, list(db.session.execute(page).tuples()), total)
