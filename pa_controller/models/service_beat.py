"""The worker's pulse, so the web process can report scheduler and MQTT health."""

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from pa_controller.extensions import db
from pa_controller.models.types import UTCDateTime


class ServiceBeat(db.Model):
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    beat_at: Mapped[datetime] = mapped_column(UTCDateTime)
    mqtt_connected: Mapped[bool] = mapped_column(default=False)
    detail: Mapped[str | None] = mapped_column(String(200))
    signing: Mapped[str | None] = mapped_column(String(300))  # None: commands are signed; else why they wait
