"""Refusals counted per cluster: forged commands a cluster rejected, reports the controller did not apply.

Either is a security signal for the technician: a command the controller never sent reached a cluster (someone
publishes on the command topics), or a report claims what the controller never asked (someone publishes on a
cluster's topics, or a cluster misbehaves). Counts are upserted once per ingest batch.
"""

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from pa_controller.domain import RefusalKind
from pa_controller.extensions import db
from pa_controller.models import Cluster, RefusalCount
from pa_controller.services.bulk import INSERTS

Key = tuple[str, RefusalKind, str]  # (cluster id, kind, reason)


def count(counts: Counter[Key], now: datetime) -> int:
    """Add `counts` to the stored counts of the clusters in the registry; return how many were stored."""
    if not counts:
        return 0
    known = set(db.session.scalars(select(Cluster.id).where(Cluster.id.in_({cid for cid, _, _ in counts}))))
    rows = [{"cluster_id": cid, "kind": kind.value, "reason": reason, "count": n, "first_at": now, "last_at": now}
            for (cid, kind, reason), n in counts.items() if cid in known]
    if rows:
        insert = INSERTS[db.session.get_bind().dialect.name](RefusalCount).values(rows)
        db.session.execute(insert.on_conflict_do_update(
            index_elements=[RefusalCount.cluster_id, RefusalCount.kind, RefusalCount.reason],
            set_={"count": RefusalCount.count + insert.excluded["count"], "last_at": insert.excluded.last_at}))
    return sum(counts[cid, kind, reason] for cid, kind, reason in counts if cid in known)


def of_cluster(cluster_id: str) -> list[RefusalCount]:
    """Return one cluster's counts, latest first."""
    query = select(RefusalCount).where(RefusalCount.cluster_id == cluster_id).order_by(RefusalCount.last_at.desc())
    return list(db.session.scalars(query))


def by_kind(cluster_id: str) -> dict[str, dict[str, int]]:
    """Return one cluster's counts as {kind: {reason: count}}, every kind present."""
    found = {kind.value: {} for kind in RefusalKind}
    for row in of_cluster(cluster_id):
        found[row.kind][row.reason] = row.count
    return found


@dataclass(frozen=True)
class ClusterRefusals:
    """One cluster's refusals of one kind, summed over reasons."""

    cluster_id: str
    kind: str
    count: int
    last_at: datetime


def summary(ward_ids: set[str] | None, limit: int = 20) -> tuple[dict[str, int], list[ClusterRefusals]]:
    """Return the totals per kind in the wards (None: the district) and the clusters with most, latest first."""
    query = (select(RefusalCount.cluster_id, RefusalCount.kind, func.sum(RefusalCount.count),
                    func.max(RefusalCount.last_at))
             .join(Cluster, Cluster.id == RefusalCount.cluster_id)
             .group_by(RefusalCount.cluster_id, RefusalCount.kind))
    if ward_ids is not None:
        query = query.where(Cluster.ward_id.in_(ward_ids))
    rows = [ClusterRefusals(*row) for row in db.session.execute(query)]
    totals = {kind.value: sum(r.count for r in rows if r.kind == kind.value) for kind in RefusalKind}
    return totals, sorted(rows, key=lambda r: r.last_at, reverse=True)[:limit]
