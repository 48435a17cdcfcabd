"""The outbox's bookkeeping: which committed commands are due to go out, signed, and which the broker acknowledged.

The publisher (messaging/outbox.py) only moves bytes; each call here is one short transaction of its own. The rows
hold commands unsigned, requests to send: each is signed with the current key as it goes out, in the worker, the
one process that reads private keys. Ed25519 is deterministic, so a row published again with the same key is the
same bytes; after a rotation it goes out signed by the new key, and a cluster that had it takes it as a duplicate.
"""

import json
import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Row, select, update

import pa_protocol as protocol
from pa_controller import clock
from pa_controller.extensions import db
from pa_controller.models import OutboxMessage
from pa_controller.services.command_keys import Signer
from pa_protocol.signing import SigningKey, sign_command

log = logging.getLogger(__name__)


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

    def __init__(self, app, signer: Signer):
        self.app = app
        self.signer = signer
        self._unsignable: set[int] = set()

    def due(self, in_flight: set[int], batch: int) -> list[Outgoing]:
        """Up to `batch` unsent, unexpired commands, oldest first, leaving out the rows `in_flight`, each signed
        with the current key; none while no key can sign (they wait, and `signer.problem` says why)."""
        with self.app.app_context():
            now = clock.now()
            query = (select(OutboxMessage.id, OutboxMessage.cmd_id, OutboxMessage.topic, OutboxMessage.payload,
                            OutboxMessage.expires_at)  # columns, not objects: 456 stops are read while clusters play
                     .where(OutboxMessage.sent_at.is_(None), OutboxMessage.expires_at > now)
                     .order_by(OutboxMessage.id).limit(batch + len(in_flight)))
            rows = [row for row in db.session.execute(query) if row.id not in in_flight]
            # The key after the rows: a row read before an activation may still go out with the old key, and
            # the activation counted it in the old key's not_after; one written after it is never read with it.
            key = self.signer.current() if rows else None
            due = [] if key is None else [
                Outgoing(row.id, row.cmd_id, row.topic, signed, int((row.expires_at - now) // timedelta(seconds=1)))
                for row in rows if (signed := self._signed(row, key)) is not None]
            db.session.remove()
        return due

    def _signed(self, row: Row, key: SigningKey) -> bytes | None:
        """The row's command signed for the wire, or None (logged once) if it cannot be: it must not hold up the
        rows behind it."""
        try:
            return protocol.encode(sign_command(json.loads(row.payload), key))
        except ValueError as exc:
            if row.id not in self._unsignable:
                self._unsignable.add(row.id)
                log.error("command %s cannot be signed and stays unsent: %s", row.cmd_id, exc)
            return None

    def check_signing(self) -> str | None:
        """Return in a word why commands cannot be signed now, or None (needs an app context); the log has more."""
        self.signer.current()
        return self.signer.word

    def mark_sent(self, row_ids: list[int]) -> None:
        """Record that the broker acknowledged these rows."""
        with self.app.app_context():
            db.session.execute(update(OutboxMessage).where(OutboxMessage.id.in_(row_ids)).values(sent_at=clock.now()))
            db.session.commit()
            db.session.remove()
