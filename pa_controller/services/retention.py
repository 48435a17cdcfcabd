"""How long records are kept, and pruning what is older: raw heartbeats, their rollups, sent commands, the audit log.

Each kind is deleted in batches of BATCH rows, one transaction each, so neither the worker nor `flask pa prune`
holds a lock for long or a transaction of millions of rows. The audit log is append-only for the application:
pruning is its one deletion, and each batch of it is recorded in the audit log itself, in the batch's own
transaction, so no entry goes without a record of its going. Its window ends at a local midnight, so it moves
once a day and the worker records one pruning a day rather than one a tick. The triggers that refuse any
UPDATE or DELETE of it (migration 0012) are set aside inside that transaction only: no other session ever sees
the table without them (PostgreSQL's ALTER TABLE and SQLite's DDL are transactional).

docs/operations.md, "Keeping records", gives the windows' defaults and the reasons for them.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from sqlalchemy import delete, func, select, text, tuple_

from pa_controller import clock, settings
from pa_controller.extensions import db
from pa_controller.models import AuditEntry, HeartbeatSample, OutboxMessage, TelemetryBucket
from pa_controller.services import audit

BATCH = 5000
AUDIT_PRUNE = "audit.prune"


@dataclass(frozen=True)
class Kept:
    """One kind of record: its table, the time it is judged by, and its window."""

    name: str
    table: object
    moment: object  # the column compared with the cutoff
    keep: Callable[[settings.Settings], timedelta]
    by_day: bool = False  # the window ends at a local midnight

    def cutoff(self, config: settings.Settings, now: datetime) -> datetime:
        """Records before this moment go."""
        moment = now - self.keep(config)
        if self.by_day:
            moment = datetime.combine(moment.astimezone(clock.LOCAL_ZONE).date(), time(0), clock.LOCAL_ZONE)
        return moment


KINDS = (
    Kept("heartbeats", HeartbeatSample.__table__, HeartbeatSample.at, lambda c: timedelta(hours=c.telemetry_raw_h)),
    Kept("rollups", TelemetryBucket.__table__, TelemetryBucket.bucket_at,
         lambda c: timedelta(days=c.telemetry_keep_d)),
    Kept("commands", OutboxMessage.__table__, OutboxMessage.expires_at, lambda c: timedelta(days=c.outbox_keep_d)),
    Kept("audit", AuditEntry.__table__, AuditEntry.at, lambda c: timedelta(days=c.audit_keep_d), by_day=True),
)


@dataclass(frozen=True)
class Pruned:
    """What one kind's pruning did (or, on a dry run, would do)."""

    name: str
    cutoff: datetime
    rows: int


def prune(now: datetime | None = None, *, dry_run: bool = False, batch: int = BATCH,
          progress: Callable[[str, int], None] | None = None) -> list[Pruned]:
    """Delete every kind's records older than its window, `batch` rows a transaction; on a dry run count them only.

    `progress(name, rows so far)` is told after each batch.
    """
    now = now or clock.now()
    config = settings.current()
    done = []
    for kind in KINDS:
        cutoff = kind.cutoff(config, now)
        if dry_run:
            rows = db.session.scalar(select(func.count()).select_from(kind.table).where(kind.moment < cutoff))
            db.session.rollback()
        else:
            rows = _delete_before(kind, cutoff, batch, progress)
        done.append(Pruned(kind.name, cutoff, rows))
    return done


def _delete_before(kind: Kept, cutoff: datetime, batch: int, progress) -> int:
    key = tuple_(*kind.table.primary_key.columns) if len(kind.table.primary_key.columns) > 1 \
        else next(iter(kind.table.primary_key.columns))
    deleted = 0
    while True:
        oldest = select(*kind.table.primary_key.columns).where(kind.moment < cutoff).limit(batch)
        if kind.table is AuditEntry.__table__:
            rows = _delete_audit_entries(delete(kind.table).where(key.in_(oldest)), cutoff)
        else:
            rows = db.session.execute(delete(kind.table).where(key.in_(oldest))).rowcount
        db.session.commit()
        deleted += rows
        if progress is not None and rows:
            progress(kind.name, deleted)
        if rows < batch:
            return deleted


def _delete_audit_entries(statement, cutoff: datetime) -> int:
    """Delete a batch of audit entries with the append-only triggers set aside, and record it; the caller commits."""
    if db.session.scalar(select(AuditEntry.id).where(AuditEntry.at < cutoff).limit(1)) is None:
        return 0  # nothing to delete: the triggers stay, and nothing is recorded
    connection = db.session.connection()
    if connection.dialect.name == "postgresql":
        connection.execute(text("ALTER TABLE audit_entry DISABLE TRIGGER audit_entry_append_only"))  # 0012's
        rows = connection.execute(statement).rowcount
        connection.execute(text("ALTER TABLE audit_entry ENABLE TRIGGER audit_entry_append_only"))
    else:
        triggers = connection.execute(text(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit_entry'")).all()
        for name, _sql in triggers:
            connection.execute(text(f'DROP TRIGGER "{name}"'))
        rows = connection.execute(statement).rowcount
        for _name, sql in triggers:
            connection.execute(text(sql))  # as the migration made it, word for word
    audit.record(AUDIT_PRUNE, "audit", entries=rows, older_than=cutoff.isoformat())
    return rows
