"""The outbox's bookkeeping: which committed commands are due to go out, and which the broker has acknowledged.

The publisher (messaging/outbox.py) only moves bytes; each call here is one short transaction of its own.
"""

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update

from pa_controller import clock
from pa_controller.extensions import db
from pa_controller.models import OutboxMessage


@dataclass(frozen=True)
class Outgoing:
    """One command to publish: its outbox row, where it goes, and how long the broker may keep it."""

    row_id: int
    cmd_id: str
    topic: str
    payload: bytes
    expiry_s: int


class OutboxStore:
    """The outbox table as the publisher thread sees it."""

    def __init__(self, app):
        self.app = app

    def due(self, in_flight: set[int], batch: int) -> list[Outgoing]:
        """Up to `batch` unsent, unexpired commands, oldest first, leaving out the rows `in_flight`."""
        with self.app.app_context():
            now = clock.now()
            query = (select(OutboxMessage)
                     .where(OutboxMessage.sent_at.is_(None), OutboxMessage.expires_at > now)
                     .order_by(OutboxMessage.id).limit(batch + len(in_flight)))
            due = [Outgoing(row.id, row.cmd_id, row.topic, row.payload,
                            int((row.expires_at - now) // timedelta(seconds=1)))
                   for row in db.session.scalars(query) if row.id not in in_flight]
            db.session.remove()
        return due

    def mark_sent(self, row_ids: list[int]) -> None:
        """Record that the broker acknowledged these rows."""
        with self.app.app_context():
            db.session.execute(update(OutboxMessage).where(OutboxMessage.id.in_(row_ids)).values(sent_at=clock.now()))
            db.session.commit()
            db.session.remove()
