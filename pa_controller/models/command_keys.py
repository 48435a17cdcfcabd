"""The keys that sign commands: their public halves and the statements published about them. The private halves
are files in PA_KEY_DIR, never in the database."""

from datetime import datetime

from sqlalchemy import Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from pa_controller.domain import KeyState
from pa_controller.extensions import db
from pa_controller.models.types import EnumText, UTCDateTime

SIGNING = db.text("state IN ('next', 'current')")  # KeyState.NEXT and KeyState.CURRENT


class CommandKey(db.Model):
    """One Ed25519 key, the `seq`-th of the chain, and its two statements (pa_protocol.signing): its endorsement,
    signed once by `signed_by` (the key of seq - 1, or itself for seq 1), and, once retired, its retirement,
    signed once by `retired_by` (its successor)."""

    __table_args__ = (
        # At most one next and one current key, whatever two commands run at once.
        Index("uq_command_key_state", "state", unique=True, sqlite_where=SIGNING, postgresql_where=SIGNING),
    )

    kid: Mapped[str] = mapped_column(String(16), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, unique=True)  # 1, 2, 3…: its place in the chain
    public_key: Mapped[str] = mapped_column(String(64))  # base64url of the 32 raw bytes
    state: Mapped[KeyState] = mapped_column(EnumText(KeyState))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    not_after: Mapped[datetime | None] = mapped_column(UTCDateTime)  # set when retired
    signed_by: Mapped[str] = mapped_column(String(16))
    signature: Mapped[str] = mapped_column(String(100))  # base64url
    retired_by: Mapped[str | None] = mapped_column(String(16))
    retirement_signature: Mapped[str | None] = mapped_column(String(100))
