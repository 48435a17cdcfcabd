"""Broadcasts, their runs, each run's deliveries, and the outbox that carries commands."""

from datetime import date, datetime

from sqlalchemy import JSON, ForeignKey, Index, LargeBinary, String, UniqueConstraint, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from pa_controller.domain import ApprovalAction, ApprovalState, ProgrammeKind
from pa_controller.extensions import db
from pa_controller.models.types import EnumText, UTCDateTime
from pa_controller.recurrence import Schedule, parse_times
from pa_protocol import DeliveryState, Priority, RunState


class Broadcast(db.Model):
    """What to sound, where and when. Editing changes the fields; runs already dispatched keep their records."""

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    kind: Mapped[ProgrammeKind] = mapped_column(EnumText(ProgrammeKind), default=ProgrammeKind.PLAY)
    audio_id: Mapped[int | None] = mapped_column(ForeignKey("audio.id"))  # the clip sent; composed if need be
    programme: Mapped[dict | None] = mapped_column(JSON)  # the parts of a composed clip: items, repeat, gap, chime
    stream_url: Mapped[str | None] = mapped_column(String(1024))
    duration_ms: Mapped[int]
    priority: Mapped[Priority] = mapped_column(EnumText(Priority))
    targets: Mapped[dict] = mapped_column(JSON)
    start_at: Mapped[datetime] = mapped_column(UTCDateTime)
    rrule: Mapped[str | None] = mapped_column(String(500))
    until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    exdates: Mapped[list | None] = mapped_column(JSON)  # local dates skipped (holidays), "YYYY-MM-DD"
    times: Mapped[list | None] = mapped_column(JSON)  # local times of day "HH:MM" on the rule's days
    override_reason: Mapped[str | None] = mapped_column(String(500))  # why an administrator set guardrails aside
    override_by: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    planned_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    approval: Mapped[ApprovalState] = mapped_column(EnumText(ApprovalState), default=ApprovalState.APPROVED)
    awaiting_review: Mapped[bool] = mapped_column(default=False)  # an emergency sent before any approver saw it

    audio = relationship("Audio")
    wards: Mapped[list["BroadcastWard"]] = relationship(cascade="all, delete-orphan")
    runs: Mapped[list["Run"]] = relationship(back_populates="broadcast", order_by="Run.start_at.desc()")
    steps: Mapped[list["ApprovalStep"]] = relationship(order_by="ApprovalStep.id", cascade="all, delete-orphan")

    @property
    def schedule(self) -> Schedule:
        exdates = frozenset(date.fromisoformat(d) for d in self.exdates or ())
        return Schedule(self.start_at, self.rrule, self.until, exdates, parse_times(self.times))


class ApprovalStep(db.Model):
    """One step of a broadcast's approval history: who did what, when, with what comment."""

    id: Mapped[int] = mapped_column(primary_key=True)
    broadcast_id: Mapped[int] = mapped_column(ForeignKey("broadcast.id"), index=True)
    action: Mapped[ApprovalAction] = mapped_column(EnumText(ApprovalAction))
    state: Mapped[ApprovalState] = mapped_column(EnumText(ApprovalState))  # the broadcast's state after it
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    comment: Mapped[str | None] = mapped_column(String(1000))

    user = relationship("User")


class BroadcastWard(db.Model):
    """A ward a broadcast reaches, resolved from its targets when saved: the key of ward-scoped rights."""

    broadcast_id: Mapped[int] = mapped_column(ForeignKey("broadcast.id"), primary_key=True)
    ward_id: Mapped[str] = mapped_column(ForeignKey("ward.id"), primary_key=True, index=True)

    @classmethod
    def reaching(cls, ward_ids):
        """The ids of the broadcasts that reach any of the wards, as a subquery."""
        return select(cls.broadcast_id).where(cls.ward_id.in_(ward_ids))


class Run(db.Model):
    """One occurrence of a broadcast: unique per (broadcast, start time)."""

    __table_args__ = (
        UniqueConstraint("broadcast_id", "start_at"),
        Index("ix_run_state_dispatch", "state", "dispatch_at"),
        Index("ix_run_start_at", "start_at", "id"),  # runs by time: the upward API's keyset (services/upward.py)
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    broadcast_id: Mapped[int] = mapped_column(ForeignKey("broadcast.id"), index=True)
    start_at: Mapped[datetime] = mapped_column(UTCDateTime)
    dispatch_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closes_at: Mapped[datetime] = mapped_column(UTCDateTime)
    state: Mapped[RunState] = mapped_column(EnumText(RunState), default=RunState.SCHEDULED)
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reason: Mapped[str | None] = mapped_column(String(200))

    broadcast: Mapped[Broadcast] = relationship(back_populates="runs")
    deliveries: Mapped[list["Delivery"]] = relationship(back_populates="run")


class Delivery(db.Model):
    """What one cluster made of one run, following the protocol's event states."""

    run_id: Mapped[int] = mapped_column(ForeignKey("run.id"), primary_key=True)
    cluster_id: Mapped[str] = mapped_column(ForeignKey("cluster.id"), primary_key=True, index=True)
    cmd_id: Mapped[str] = mapped_column(String(36), unique=True)
    state: Mapped[DeliveryState] = mapped_column(EnumText(DeliveryState), default=DeliveryState.PENDING)
    at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    detail: Mapped[dict | None] = mapped_column(JSON)
    ready_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # on the controller's clock: how long fetches take
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # its `playing`, on its clock: the proof of play

    run: Mapped[Run] = relationship(back_populates="deliveries")


class OutboxMessage(db.Model):
    """A command committed with the change that caused it, published until the broker acknowledges it."""

    id: Mapped[int] = mapped_column(primary_key=True)
    cmd_id: Mapped[str] = mapped_column(String(36), unique=True)
    topic: Mapped[str] = mapped_column(String(200))
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
