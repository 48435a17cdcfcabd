"""A ward's broadcasting rules: when and how much non-emergency audio its loudspeakers may sound."""

from datetime import datetime, time

from sqlalchemy import JSON, ForeignKey, String, Time
from sqlalchemy.orm import Mapped, mapped_column

from pa_controller.extensions import db
from pa_controller.models.types import UTCDateTime


class WardRules(db.Model):
    """Absent for a ward means the district default quiet hours (PA_QUIET_HOURS, 21:30–05:00) and nothing else."""

    ward_id: Mapped[str] = mapped_column(ForeignKey("ward.id"), primary_key=True)
    quiet_start: Mapped[time | None] = mapped_column(Time)  # both None: no quiet hours
    quiet_end: Mapped[time | None] = mapped_column(Time)
    max_sessions_per_day: Mapped[int | None]
    max_session_minutes: Mapped[int | None]
    weekdays: Mapped[list | None] = mapped_column(JSON)  # ISO weekdays (1 = Monday) allowed; None: every day
    blackout_dates: Mapped[list | None] = mapped_column(JSON)  # "YYYY-MM-DD"
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    note: Mapped[str | None] = mapped_column(String(500))
