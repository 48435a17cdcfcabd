"""Store the reports the inbox collected: one transaction per kind of report, in a fixed order."""

import logging

from sqlalchemy.exc import InterfaceError, OperationalError

from pa_controller.extensions import db
from pa_controller.messaging.inbox import StoreUnavailable

log = logging.getLogger(__name__)
# The database did not answer or cut the connection (a restart, a failover, SQLite busy too long): no fault of
# the reports, which wait for it rather than being dropped one by one.
UNREACHABLE = (OperationalError, InterfaceError)


class ReportWriter:
    """Apply one batch of decoded reports; if a kind's transaction fails, its messages go one by one, so one bad
    report costs only itself. If the database cannot be reached, nothing is dropped: the part of the batch not
    stored is handed back (StoreUnavailable) to be offered again."""

    def __init__(self, app, apply: dict):
        """`apply` maps a topic kind to a function(messages, now) -> count, called in that order per batch."""
        self.app = app
        self.apply = apply

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(self.apply)

    def write(self, batch: list[tuple[str, str, dict]], now) -> tuple[int, int]:
        """Store (kind, cid, payload) reports; return how many were applied and how many could not be stored.

        :raises StoreUnavailable: with the reports not yet stored when the database stopped answering.
        """
        applied = unstorable = 0
        with self.app.app_context():
            try:
                for position, (kind, apply) in enumerate(self.apply.items()):
                    messages = [(cid, payload) for k, cid, payload in batch if k == kind]
                    done = 0  # of `messages`, stored or given up
                    try:
                        if messages and (count := self._commit(apply, messages, now)) is not None:
                            applied, done = applied + count, len(messages)
                        for message in messages[done:]:
                            if (count := self._commit(apply, [message], now, log_failure=True)) is None:
                                unstorable += 1
                            else:
                                applied += count
                            done += 1
                    except UNREACHABLE:
                        later = set(list(self.apply)[position + 1:])
                        unwritten = [(kind, cid, payload) for cid, payload in messages[done:]]
                        unwritten += [report for report in batch if report[0] in later]
                        raise StoreUnavailable(unwritten, applied, unstorable) from None
            finally:
                db.session.remove()
        return applied, unstorable

    @staticmethod
    def _commit(apply, messages: list, now, log_failure: bool = False) -> int | None:
        """Apply and commit; None if the database refused these reports; raise what says it is unreachable."""
        try:
            applied = apply(messages, now)
            db.session.commit()
        except UNREACHABLE:
            db.session.rollback()
            raise
        except Exception:
            db.session.rollback()
            if log_failure:
                log.exception("could not store a report from %s; dropped", messages[0][0])
            return None
        return applied
