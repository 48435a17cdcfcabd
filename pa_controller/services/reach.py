"""How far a broadcast's targets reach: clusters, speakers and wards in service, and how many are offline now."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from pa_controller.domain import ClusterStatus
from pa_controller.extensions import db
from pa_controller.models import Cluster, User
from pa_controller.services import access, fleet, proposals


@dataclass(frozen=True)
class Reach:
    clusters: int
    speakers: int
    wards: int
    offline: int  # of those clusters, how many the controller has not heard from lately

    def describe(self) -> dict:
        return {"clusters": self.clusters, "speakers": self.speakers, "wards": self.wards, "offline": self.offline}


def of_clusters(cluster_ids, now: datetime, heartbeat_s: float) -> Reach:
    """Count what a set of clusters amounts to, judging each one's status on the controller's clock."""
    found = list(db.session.scalars(select(Cluster).where(Cluster.id.in_(list(cluster_ids)))
                                    .options(selectinload(Cluster.state))))
    offline = sum(fleet.effective_status(c.state, now, heartbeat_s) is ClusterStatus.OFFLINE for c in found)
    return Reach(clusters=len(found), speakers=sum(c.speakers for c in found), wards=len({c.ward_id for c in found}),
                 offline=offline)


def of_targets(user: User, targets: dict, now: datetime, heartbeat_s: float) -> Reach:
    """Count what a target description would reach today, if every ward it names is the user's (none: zeros)."""
    proposals.refuse_unseen(targets, access.ward_scope(user))
    access.require_wards(user, set(proposals.named_wards(targets)))
    return of_clusters([c.id for c in proposals.chosen_clusters(targets)], now, heartbeat_s)
