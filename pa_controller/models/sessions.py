"""Signing in: the sessions of the pages, held on the server so they can be ended, and failed logins."""

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from pa_controller.extensions import db
from pa_controller.models.types import UTCDateTime


class UserSession(db.Model):
    """One login: the cookie carries a random id, only its sha256 is stored. Ended by logout, a timeout,
    a password change or an administrator; an ended session never comes back."""

    id: Mapped[int] = mapped_column(primary_key=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    end_reason: Mapped[str | None] = mapped_column(String(32))  # sessions.Ended values
    address: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(200))

    user = relationship("User")


class LoginFailure(db.Model):
    """A refused password, counted by account and by address to throttle guessing (services/logins.py).

    Shared by every web worker because it is in the database; rows older than a day are pruned."""

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    username: Mapped[str] = mapped_column(String(64))  # as typed, lower-cased; it may name nobody
    address: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_login_failure_username_at", "username", "at"),
        Index("ix_login_failure_address_at", "address", "at"),
    )
