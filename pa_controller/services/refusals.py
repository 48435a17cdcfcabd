"""Refusals counted per cluster: forged commands a cluster rejected, reports the controller did not apply.

Either is a security signal for the technician: a command the controller never sent reached a cluster (someone
publishes on the command topics), or a report claims what the controller never asked (someone publishes on a
cluster's topics, or a cluster misbehaves). Counts are upserted once per ingest batch, into the counts of the
cluster whose topic it came on (if it is in the registry) and into the district's, which also hold what came on
an unknown cluster's topic or on one that is no cluster's channel. Each batch's refusals are logged in one line.
"""

import logging
from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from flask_babel import lazy_gettext as _
from sqlalchemy import func, select

from pa_controller.domain import RefusalKind
from pa_controller.errors import Forbidden
from pa_controller.extensions import db
from pa_controller.models import Cluster, FleetRefusalCount, RefusalCount, User
from pa_controller.services import access
from pa_controller.services.bulk import INSERTS

log = logging.getLogger(__name__)
Key = tuple[str | None, RefusalKind, str]  # (cluster id of the topic, None if it named none; kind; reason)


def count(counts: Counter[Key], now: datetime) -> int:
    """Add `counts` to the district's counts and to those of the clusters in the registry; return how many were
    counted against a cluster."""
    if not counts:
        return 0
    _log(counts)
    fleet = Counter()
    for (_cid, kind, reason), n in counts.items():
        fleet[kind, reason] += n
    _add(FleetRefusalCount, [{"kind": kind.value, "reason": reason, "count": n, "first_at": now, "last_at": now}
                             for (kind, reason), n in fleet.items()])
    cids = {cid for cid, _, _ in counts if cid is not None}
    known = set(db.session.scalars(select(Cluster.id).where(Cluster.id.in_(cids)))) if cids else set()
    _add(RefusalCount, [{"cluster_id": cid, "kind": kind.value, "reason": reason, "count": n, "first_at": now,
                         "last_at": now} for (cid, kind, reason), n in counts.items() if cid in known])
    return sum(n for (cid, _, _), n in counts.items() if cid in known)


def _add(model, rows: list[dict]) -> None:
    """Upsert counts: a new key starts at its count, a known one adds it and moves its last_at."""
    if not rows:
        return
    insert = INSERTS[db.session.get_bind().dialect.name](model).values(rows)
    db.session.execute(insert.on_conflict_do_update(
        index_elements=list(model.__table__.primary_key.columns),
        set_={"count": model.count + insert.excluded["count"], "last_at": insert.excluded.last_at}))


def _log(counts: Counter[Key]) -> None:
    """One line a batch, however many clusters: a flood of forgeries must not flood the log too."""
    by_reason = Counter()
    for (_cid, kind, reason), n in counts.items():
        by_reason[f"{kind.value} {reason}"] += n
    clusters = sorted({cid or "(no cluster)" for cid, _, _ in counts})
    shown = ", ".join(clusters[:5]) + (f" and {len(clusters) - 5} more" if len(clusters) > 5 else "")
    log.warning("refused %d report(s) on the topics of %s: %s", counts.total(), shown,
                ", ".join(f"{what} ×{n}" for what, n in sorted(by_reason.items())))


def total(by_kind: dict[str, dict[str, int]]) -> int:
    """Return the sum of counts given as {kind: {reason: count}}."""
    return sum(n for reasons in by_kind.values() for n in reasons.values())


def of_district_for(user: User) -> dict[str, dict[str, int]]:
    """Return the district's counts to a reader of the whole district; a ward's reader is refused (a report on an
    unknown cluster's topic belongs to no ward). Never without a login: they would tell a forger what was noticed."""
    if access.ward_scope(user) is not None:
        raise Forbidden(_("Số báo cáo bị từ chối của cả quận chỉ dành cho người theo dõi cả quận."))
    return of_district()


def of_district() -> dict[str, dict[str, int]]:
    """Return the district's counts as {kind: {reason: count}}, every kind present."""
    found = {kind.value: {} for kind in RefusalKind}
    for row in db.session.scalars(select(FleetRefusalCount).order_by(FleetRefusalCount.count.desc())):
        found[row.kind][row.reason] = row.count
    return found


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
