"""The fleet: wards, clusters, groups of clusters, and what each cluster last told us."""

from datetime import datetime

from sqlalchemy import Column, ForeignKey, String, Table, UniqueConstraint, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from pa_controller.domain import ClusterStatus
from pa_controller.extensions import db
from pa_controller.models.types import EnumText, UTCDateTime


class Ward(db.Model):
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    # A ward rule (GET/PUT /api/v1/wards/{id}/rules): its officers' broadcasts wait for an approver.
    approval_required: Mapped[bool] = mapped_column(default=True)

    clusters: Mapped[list["Cluster"]] = relationship(back_populates="ward", order_by="Cluster.id")

    @classmethod
    def names(cls, ward_ids) -> dict[str, str]:
        """Return {id: name} of the wards among ward_ids (what people read instead of ids)."""
        return dict(db.session.execute(select(cls.id, cls.name).where(cls.id.in_(list(ward_ids)))).all())


class Cluster(db.Model):
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    ward_id: Mapped[str] = mapped_column(ForeignKey("ward.id"), index=True)
    lat: Mapped[float]
    lon: Mapped[float]
    speakers: Mapped[int]
    retired: Mapped[bool] = mapped_column(default=False)

    ward: Mapped[Ward] = relationship(back_populates="clusters")
    state: Mapped["ClusterState"] = relationship(back_populates="cluster", uselist=False)


class ClusterState(db.Model):
    """The latest status and heartbeat of one cluster, written by ingest only."""

    cluster_id: Mapped[str] = mapped_column(ForeignKey("cluster.id"), primary_key=True)
    status: Mapped[ClusterStatus] = mapped_column(EnumText(ClusterStatus), default=ClusterStatus.UNKNOWN)
    online: Mapped[bool] = mapped_column(default=False)
    boot_id: Mapped[str | None] = mapped_column(String(64))
    conn: Mapped[int | None] = mapped_column()  # the birth's connection within its boot: tells a late will
    status_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_seen: Mapped[datetime | None] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    seq: Mapped[int | None]
    uptime_s: Mapped[float | None]
    activity: Mapped[str | None] = mapped_column(String(16))
    playing: Mapped[str | None] = mapped_column(String(64))
    volume: Mapped[int | None]
    rssi_dbm: Mapped[float | None]
    temp_c: Mapped[float | None]
    speakers_ok: Mapped[int | None]
    speakers_total: Mapped[int | None]
    amp_ok: Mapped[bool | None]
    fw: Mapped[str | None] = mapped_column(String(64))

    cluster: Mapped[Cluster] = relationship(back_populates="state")


group_cluster = Table(
    "group_cluster", db.metadata,
    Column("group_id", ForeignKey("cluster_group.id", ondelete="CASCADE"), primary_key=True),
    Column("cluster_id", ForeignKey("cluster.id"), primary_key=True, index=True),
)


class Group(db.Model):
    """Clusters of one ward that officers target together: a market, a street."""

    __tablename__ = "cluster_group"  # "group" is a word of SQL
    __table_args__ = (UniqueConstraint("ward_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    ward_id: Mapped[str] = mapped_column(ForeignKey("ward.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    ward: Mapped[Ward] = relationship()
    clusters: Mapped[list[Cluster]] = relationship(secondary=group_cluster, order_by=Cluster.id)
