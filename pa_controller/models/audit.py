"""The audit log: who changed what, when and from where. The application only ever appends to it."""

from datetime import datetime

from sqlalchemy import JSON, Index, String, event
from sqlalchemy.orm import Mapped, mapped_column

from pa_controller.extensions import db
from pa_controller.models.types import UTCDateTime


class AuditEntry(db.Model):
    # Each filter of the log's page with the time it is shown newest first by: the index finds the page's
    # entries in order and stops (migration 0022; bench/explain.py).
    __table_args__ = tuple(Index(f"ix_audit_entry_{column}_at", column, "at") for column in ("actor", "action",
                                                                                               "ward_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    actor: Mapped[str] = mapped_column(String(80))  # a username, "cli:<os user>" or "system"
    user_id: Mapped[int | None] = mapped_column(index=True)  # no foreign key: the entry outlives the user
    address: Mapped[str | None] = mapped_column(String(64), index=True)
    action: Mapped[str] = mapped_column(String(48))  # e.g. "broadcast.cancel", "login.failed"
    target: Mapped[str | None] = mapped_column(String(120))  # e.g. "broadcast:12", "user:canbo-thoihoa"
    ward_id: Mapped[str | None] = mapped_column(String(32))
    detail: Mapped[dict | None] = mapped_column(JSON)  # {"before": …, "after": …} or what the action needs


@event.listens_for(AuditEntry, "before_update")
@event.listens_for(AuditEntry, "before_delete")
def _append_only(mapper, connection, entry) -> None:
    raise RuntimeError("the audit log is append-only")
