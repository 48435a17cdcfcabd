"""The keys that sign commands: their public halves and what is published about them. The private halves are
files in PA_KEY_DIR, never in the database."""

from datetime import datetime

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from pa_controller.domain import KeyState
from pa_controller.extensions import db
from pa_controller.models.types import EnumText, UTCDateTime

SIGNING = db.text("state IN ('next', 'current')")  # KeyState.NEXT and KeyState.CURRENT


class CommandKey(db.Model):
    """One Ed25519 key; its entry of the key list is its statement signed by `signed_by` (pa_protocol.signing)."""

    __table_args__ = (
        # At most one next and one current key, whatever two commands run at once.
        Index("uq_command_key_state", "state", unique=True, sqlite_where=SIGNING, postgresql_where=SIGNING),
    )

    kid: Mapped[str] = mapped_column(String(16), primary_key=True)
    public_key: Mapped[str] = mapped_column(String(64))  # base64url of the 32 raw bytes
    state: Mapped[KeyState] = mapped_column(EnumText(KeyState))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    not_after: Mapped[datetime | None] = mapped_column(UTCDateTime)  # set when retired
    signed_by: Mapped[str] = mapped_column(String(16))
    signature: Mapped[str] = mapped_column(String(100))  # base64url
