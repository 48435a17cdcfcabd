"""People who use LoaNet, the wards each works for, and their API tokens."""

import hashlib
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import Column, ForeignKey, String, Table
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from pa_controller import settings
from pa_controller.domain import Role, Scope
from pa_controller.extensions import db
from pa_controller.models.fleet import Ward
from pa_controller.models.types import EnumText, UTCDateTime

user_ward = Table(
    "user_ward", db.metadata,
    Column("user_id", ForeignKey("user.id", ondelete="CASCADE"), primary_key=True),
    Column("ward_id", ForeignKey("ward.id"), primary_key=True, index=True),
)


class User(UserMixin, db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(EnumText(Role))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    calendar_key_version: Mapped[int] = mapped_column(default=0)  # bumped to revoke every calendar link at once
    may_send_emergencies: Mapped[bool] = mapped_column(default=False)  # an emergency goes out before approval

    # An officer's wards; an approver's or viewer's, or none for the whole district (access.ward_scope).
    wards: Mapped[list[Ward]] = relationship(secondary=user_ward, order_by=Ward.id, lazy="selectin")

    @property
    def ward_ids(self) -> set[str]:
        return {ward.id for ward in self.wards}

    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    @property
    def is_officer(self) -> bool:
        return self.role is Role.OFFICER

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password, method=settings.current().password_hash_method)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)


class ApiToken(db.Model):
    """A bearer token; only its sha256 is stored. Kept after revocation, so its owner sees what it was."""

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[str] = mapped_column(String(64))  # space-separated Scope values
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user = relationship("User")

    @property
    def scope_set(self) -> frozenset[Scope]:
        return frozenset(Scope(value) for value in self.scopes.split())

    @staticmethod
    def digest(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()
