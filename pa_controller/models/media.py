"""The audio library: prepared clips, stored content-addressed."""

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from pa_controller.extensions import db
from pa_controller.models.types import UTCDateTime


class Audio(db.Model):
    """A clip clusters can play: a recording an officer uploaded, or a programme LoaNet composed from them.

    It belongs to a ward, whose officers alone see and use it, or to the district (`ward_id` None), for everyone.
    """

    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    title: Mapped[str] = mapped_column(String(200))
    original_name: Mapped[str] = mapped_column(String(255))
    bytes: Mapped[int]
    duration_ms: Mapped[int]
    loudness_lufs: Mapped[float]
    uploaded_by: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    ward_id: Mapped[str | None] = mapped_column(ForeignKey("ward.id"), index=True)  # None: the district's
    composed: Mapped[bool] = mapped_column(default=False, server_default=false())  # a programme, not a recording
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    speech_text: Mapped[str | None] = mapped_column(Text)  # composed by text: what the voice read, as typed
