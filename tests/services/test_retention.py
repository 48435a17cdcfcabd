"""Retention: raw heartbeats, rollups, sent commands and audit entries are deleted once older than their windows,
in batches, and pruning the audit log is recorded in it."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, insert, select

from pa_controller.extensions import db
from pa_controller.models import AuditEntry, HeartbeatSample, OutboxMessage, TelemetryBucket
from pa_controller.services import retention
from pa_controller.settings import of as settings_of
from tests.support.settings import use_settings

NOW = datetime(2026, 12, 8, 3, 0, tzinfo=UTC)  # 10:00 in Ô Môn


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


@pytest.fixture
def aged(app):
    """Three of each kind just past its window, two just within it (the defaults: 6 h, 90 d, 7 d, 730 d)."""
    use_settings(app, telemetry_raw_h=6, telemetry_keep_d=90, outbox_keep_d=7, audit_keep_d=730)
    old, kept = [timedelta(minutes=1), timedelta(minutes=2), timedelta(days=3)], [-timedelta(minutes=1)] * 2
    samples = [{"cluster_id": "c1", "at": NOW - timedelta(hours=6) - d} for d in old + kept]
    buckets = [{"cluster_id": f"c{n}", "bucket_at": NOW - timedelta(days=90) - d, "beats": 1, "amp_faults": 0}
               for n, d in enumerate(old + kept)]
    commands = [{"cmd_id": f"cmd-{n}", "topic": "t", "payload": b"{}", "created_at": NOW - timedelta(days=8),
                 "expires_at": NOW - timedelta(days=7) - d} for n, d in enumerate(old + kept)]
    # The audit log's window ends at the local midnight before NOW - 730 days: 2024-12-08 00:00 +07.
    midnight = datetime(2024, 12, 7, 17, 0, tzinfo=UTC)
    entries = [{"at": midnight - d, "actor": "system", "action": "login.failed"} for d in old + kept]
    for model, rows in ((HeartbeatSample, samples), (TelemetryBucket, buckets), (OutboxMessage, commands),
                        (AuditEntry, entries)):
        db.session.execute(insert(model), rows)
    db.session.commit()
    return app


def test_prune_deletes_what_is_older_than_each_window_in_batches(aged):
    told = []
    done = retention.prune(NOW, batch=2, progress=lambda name, rows: told.append((name, rows)))
    assert {p.name: p.rows for p in done} == {"heartbeats": 3, "rollups": 3, "commands": 3, "audit": 3}
    assert told == [(name, rows) for name in ("heartbeats", "rollups", "commands", "audit") for rows in (2, 3)]
    assert count(HeartbeatSample) == count(TelemetryBucket) == count(OutboxMessage) == 2
    assert retention.prune(NOW)[0].rows == 0


def test_pruning_the_audit_log_is_recorded_in_it_batch_by_batch(aged):
    retention.prune(NOW, batch=2)
    recorded = db.session.scalars(select(AuditEntry).where(AuditEntry.action == retention.AUDIT_PRUNE)
                                  .order_by(AuditEntry.id)).all()
    assert [e.detail["entries"] for e in recorded] == [2, 1]
    assert {e.actor for e in recorded} == {"system"}
    assert recorded[0].detail["older_than"] == "2024-12-08T00:00:00+07:00"
    assert count(AuditEntry) == 2 + 2  # the two within the window, and the two records of pruning


def test_the_audit_log_s_window_moves_once_a_day(aged):
    retention.prune(NOW)
    later_that_day = NOW + timedelta(hours=13, minutes=59)  # 23:59 in Ô Môn
    assert [p.rows for p in retention.prune(later_that_day) if p.name == "audit"] == [0]


def test_a_dry_run_counts_and_deletes_nothing(aged):
    done = retention.prune(NOW, dry_run=True)
    assert [p.rows for p in done] == [3, 3, 3, 3]
    assert count(HeartbeatSample) == count(TelemetryBucket) == count(OutboxMessage) == count(AuditEntry) == 5


def test_the_windows_are_settings_with_defaults(app):
    config = settings_of(app)
    assert (config.telemetry_raw_h, config.telemetry_keep_d, config.outbox_keep_d, config.audit_keep_d) == \
        (6, 90, 7, 730)


def test_flask_pa_prune_says_what_it_deleted_or_would(aged):
    runner = aged.test_cli_runner()
    dry = runner.invoke(args=["pa", "prune", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "heartbeats: would delete" in dry.output
    assert count(AuditEntry) == 5
    done = runner.invoke(args=["pa", "prune", "--batch", "2"])
    assert done.exit_code == 0, done.output
    assert "audit: deleted 3 older than" in done.output and "audit: 2 deleted so far" in done.output
