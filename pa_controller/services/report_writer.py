"""Store the reports the inbox collected: one transaction per kind of report, in a fixed order."""

import logging

from pa_controller.extensions import db

log = logging.getLogger(__name__)


class ReportWriter:
    """Apply one batch of decoded reports; if a kind's transaction fails, its messages go one by one, so one bad
    report costs only itself."""

    def __init__(self, app, apply: dict):
        """`apply` maps a topic kind to a function(messages, now) -> count, called in that order per batch."""
        self.app = app
        self.apply = apply

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(self.apply)

    def write(self, batch: list[tuple[str, str, dict]], now) -> tuple[int, int]:
        """Store (kind, cid, payload) reports; return how many were applied and how many could not be stored."""
        applied = unstorable = 0
        with self.app.app_context():
            for kind, apply in self.apply.items():
                messages = [(cid, payload) for k, cid, payload in batch if k == kind]
                if not messages:
                    continue
                if (count := self._commit(apply, messages, now)) is not None:
                    applied += count
                    continue
                for message in messages:
                    if (count := self._commit(apply, [message], now, log_failure=True)) is None:
                        unstorable += 1
                    else:
                        applied += count
            db.session.remove()
        return applied, unstorable

    @staticmethod
    def _commit(apply, messages: list, now, log_failure: bool = False) -> int | None:
        """Apply and commit; None if the database refused."""
        try:
            applied = apply(messages, now)
            db.session.commit()
        except Exception:
            db.session.rollback()
            if log_failure:
                log.exception("could not store a report from %s; dropped", messages[0][0])
            return None
        return applied
