"""Fleet health: outages, telemetry history, incidents, maintenance windows, remote commands."""

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from pa_controller.extensions import db
from pa_controller.models.types import EnumText, UTCDateTime
from pa_protocol import CommandType, DeliveryState

if TYPE_CHECKING:
    from pa_controller.models.fleet import Cluster, Ward


class Outage(db.Model):
    """One episode of a cluster being offline, judged on the controller's clock; open while ended_at is None."""

    __table_args__ = (Index("ix_outage_cluster_started", "cluster_id", "started_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    cluster_id: Mapped[str] = mapped_column(ForeignKey("cluster.id"))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)  # last heard of, or its will arrived
    detected_at: Mapped[datetime] = mapped_column(UTCDateTime)  # when the controller judged it offline
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    cause: Mapped[str] = mapped_column(String(32))  # an OutageCause


class HeartbeatSample(db.Model):
    """A raw heartbeat's measurements, kept for a short window (TELEMETRY_RAW_H) only."""

    __table_args__ = (Index("ix_heartbeat_sample_cluster_at", "cluster_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    cluster_id: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    rssi_dbm: Mapped[float | None]
    temp_c: Mapped[float | None]
    volume: Mapped[int | None]
    speakers_ok: Mapped[int | None]
    amp_ok: Mapped[bool | None]


class TelemetryBucket(db.Model):
    """Five minutes of one cluster's heartbeats, rolled up; kept 90 days."""

    cluster_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    bucket_at: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True, index=True)
    beats: Mapped[int]
    rssi_avg: Mapped[float | None]
    rssi_min: Mapped[float | None]
    temp_avg: Mapped[float | None]
    temp_max: Mapped[float | None]
    volume: Mapped[int | None]  # the last one
    speakers_ok_min: Mapped[int | None]
    amp_faults: Mapped[int] = mapped_column(default=0)  # heartbeats with amp_ok false


class Incident(db.Model):
    """What a technician is told once: an outage, a ward-wide outage (power cut), a speaker or amplifier fault."""

    __table_args__ = (Index("ix_incident_open", "closed_at", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))  # an IncidentKind
    cluster_id: Mapped[str | None] = mapped_column(ForeignKey("cluster.id"), index=True)
    ward_id: Mapped[str | None] = mapped_column(ForeignKey("ward.id"), index=True)
    outage_id: Mapped[int | None] = mapped_column(ForeignKey("outage.id"), unique=True)  # a cluster_offline's
    summary: Mapped[str] = mapped_column(String(300))
    detail: Mapped[dict | None] = mapped_column(JSON)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_by: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    closed_by: Mapped[int | None] = mapped_column(ForeignKey("user.id"))  # None: closed by recovery
    notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # delivered to the webhook
    notify_attempts: Mapped[int] = mapped_column(default=0)

    cluster: Mapped["Cluster | None"] = relationship()  # what it is about, named when it is told
    ward: Mapped["Ward | None"] = relationship()
    outage: Mapped[Outage | None] = relationship()


class MaintenanceWindow(db.Model):
    """While it lasts, outages of its ward or cluster open no incident."""

    id: Mapped[int] = mapped_column(primary_key=True)
    ward_id: Mapped[str | None] = mapped_column(ForeignKey("ward.id"))
    cluster_id: Mapped[str | None] = mapped_column(ForeignKey("cluster.id"))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    reason: Mapped[str] = mapped_column(String(500))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class RefusalCount(db.Model):
    """How often something from or about one cluster was refused, by kind and reason: a forged command the cluster
    rejected, a report the controller did not apply. A security signal the technician sees."""

    cluster_id: Mapped[str] = mapped_column(ForeignKey("cluster.id"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)  # a RefusalKind
    reason: Mapped[str] = mapped_column(String(32), primary_key=True)
    count: Mapped[int]
    first_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class FleetRefusalCount(db.Model):
    """How many reports the controller refused, by kind and reason, whatever topic they came on: the district's
    total, which also holds what no cluster's count can (a report on an unknown cluster's or a malformed topic)."""

    kind: Mapped[str] = mapped_column(String(16), primary_key=True)  # a RefusalKind
    reason: Mapped[str] = mapped_column(String(32), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger)  # every cluster's and more: a flood passes 2³¹ first here
    first_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_at: Mapped[datetime] = mapped_column(UTCDateTime)


class FleetCommand(db.Model):
    """A remote command to one cluster (volume, test tone, reboot), tracked like a delivery."""

    id: Mapped[int] = mapped_column(primary_key=True)
    cmd_id: Mapped[str] = mapped_column(String(36), unique=True)
    cluster_id: Mapped[str] = mapped_column(ForeignKey("cluster.id"), index=True)
    type: Mapped[CommandType] = mapped_column(EnumText(CommandType))
    params: Mapped[dict | None] = mapped_column(JSON)
    issued_by: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    state: Mapped[DeliveryState] = mapped_column(EnumText(DeliveryState), default=DeliveryState.PENDING)
    at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    detail: Mapped[dict | None] = mapped_column(JSON)
