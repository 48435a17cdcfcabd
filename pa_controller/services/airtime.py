"""Airtime per ward in a month, for the reports sent upward.

A run belongs to the month (Asia/Ho_Chi_Minh) in which it was to start. In a ward:
- sessions ("buổi phát"): the runs of the month that at least one of the ward's clusters played to the end;
- minutes ("phút phát"): the programme's length summed over those sessions;
- cluster-minutes ("cụm·phút"): the programme's length summed over every cluster that played it to the end;
- items ("bản tin"): the distinct broadcasts among those sessions;
- delivery rate: deliveries played to the end / deliveries sent, a person's cancellation not counted as sent.
The district's line counts a run that played in several wards once, so it is not the sum of the wards' lines.
"""

from dataclasses import dataclass, field
from datetime import date, datetime, time

from sqlalchemy import case, func, select

from pa_controller import clock
from pa_controller.extensions import db
from pa_controller.models import Broadcast, Cluster, Delivery, Run, User
from pa_controller.services import access, fleet
from pa_protocol import DeliveryState


@dataclass(frozen=True)
class Month:
    """A calendar month in Asia/Ho_Chi_Minh."""

    year: int
    month: int

    @classmethod
    def parse(cls, text: str | None) -> "Month":
        """Read "YYYY-MM" (already checked by the request's schema); none: the month it is now."""
        if not text:
            today = clock.now().astimezone(clock.LOCAL_ZONE)
            return cls(today.year, today.month)
        year, month = text.split("-")
        return cls(int(year), int(month))

    @property
    def starts(self) -> datetime:
        return datetime.combine(date(self.year, self.month, 1), time(0), clock.LOCAL_ZONE)

    @property
    def ends(self) -> datetime:
        return self.next.starts

    @property
    def previous(self) -> "Month":
        return Month(self.year - 1, 12) if self.month == 1 else Month(self.year, self.month - 1)

    @property
    def next(self) -> "Month":
        return Month(self.year + 1, 1) if self.month == 12 else Month(self.year, self.month + 1)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


@dataclass
class Airtime:
    """One line of the report: a ward's figures, or the district's."""

    ward_id: str | None
    name: str
    runs: set[int] = field(default_factory=set)
    broadcasts: set[int] = field(default_factory=set)
    programme_ms: dict[int, int] = field(default_factory=dict)  # run id → its programme's length
    cluster_ms: int = 0
    done: int = 0
    sent: int = 0

    @property
    def sessions(self) -> int:
        return len(self.runs)

    @property
    def items(self) -> int:
        return len(self.broadcasts)

    @property
    def minutes(self) -> float:
        return sum(self.programme_ms.values()) / 60_000

    @property
    def cluster_minutes(self) -> float:
        return self.cluster_ms / 60_000

    @property
    def rate(self) -> float | None:
        """Deliveries played to the end per delivery sent (0 to 1); None when nothing was sent."""
        return self.done / self.sent if self.sent else None

    def add(self, run_id: int, broadcast_id: int, duration_ms: int, sent: int, done: int) -> None:
        self.sent += sent
        self.done += done
        self.cluster_ms += done * duration_ms
        if done:
            self.runs.add(run_id)
            self.broadcasts.add(broadcast_id)
            self.programme_ms[run_id] = duration_ms


@dataclass(frozen=True)
class AirtimeReport:
    month: Month
    wards: list[Airtime]
    total: Airtime | None  # the district's line, for those who see the whole district
    generated_at: datetime


def month_report(user: User, month: Month) -> AirtimeReport:
    """Sum each ward's airtime in a month: the user's wards, or every ward and the district's total."""
    scope = access.ward_scope(user)
    lines = {ward.id: Airtime(ward.id, ward.name) for ward in fleet.wards_for(scope)}
    total = Airtime(None, "")
    for ward_id, run_id, broadcast_id, duration_ms, sent, done in db.session.execute(_per_ward_and_run(month, scope)):
        if ward_id in lines:
            lines[ward_id].add(run_id, broadcast_id, duration_ms, sent, done)
            total.add(run_id, broadcast_id, duration_ms, sent, done)
    return AirtimeReport(month, list(lines.values()), total if scope is None else None, clock.now())


def _per_ward_and_run(month: Month, scope: set[str] | None):
    """Deliveries sent and played to the end, by ward and run, for the runs of the month."""
    done = func.sum(case((Delivery.state == DeliveryState.DONE, 1), else_=0))
    statement = (
        select(Cluster.ward_id, Run.id, Run.broadcast_id, Broadcast.duration_ms, func.count(), done)
        .select_from(Delivery)
        .join(Run, Delivery.run_id == Run.id)
        .join(Broadcast, Run.broadcast_id == Broadcast.id)
        .join(Cluster, Delivery.cluster_id == Cluster.id)
        .where(Run.start_at >= month.starts, Run.start_at < month.ends, Delivery.state != DeliveryState.CANCELLED)
        .group_by(Cluster.ward_id, Run.id, Run.broadcast_id, Broadcast.duration_ms)
        .order_by(Run.id)
    )
    return statement if scope is None else statement.where(Cluster.ward_id.in_(scope))
