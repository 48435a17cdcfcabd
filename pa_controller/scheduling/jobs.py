"""Scheduler jobs: functions handed the worker that runs them (its app, its outbox, its dispatch schedule)."""

import logging

from pa_controller import clock
from pa_controller.extensions import db
from pa_controller.scheduling.schedule import DISPATCH_HORIZON_S
from pa_controller.services import alerts, dispatch, fleet_watch, leftovers, planning, remote, retention

log = logging.getLogger(__name__)


def dispatch_run(worker, run_id: int) -> None:
    """Dispatch one run and wake the outbox publisher; after a failure the next plan tick tries again."""
    with worker.app.app_context():
        try:
            sent = dispatch.dispatch_run(run_id)
        except Exception:
            db.session.rollback()
            worker.schedule.forget(run_id)
            log.exception("dispatching run %s failed; retrying at the next plan tick", run_id)
            return
    worker.schedule.forget(run_id)  # it is no longer scheduled: no plan tick returns it again
    if sent:
        worker.outbox.wake()


def watch(worker) -> None:
    """Judge the fleet (outages, incidents) and tell the webhook; a failure waits for the next tick."""
    with worker.app.app_context():
        try:
            now = clock.now()
            fleet_watch.sweep(now)
            remote.confirm_volumes(now)
            alerts.notify(now)
        except Exception:
            db.session.rollback()
            log.exception("watching the fleet failed")


def sweep_leftovers(worker) -> None:
    """Remove what requests killed on their way left behind (scratch, clips no row names)."""
    with worker.app.app_context():
        try:
            leftovers.sweep(clock.now())
        except Exception:
            db.session.rollback()
            log.exception("removing the leftovers of killed requests failed")


def prune(worker) -> None:
    """Delete what is older than its window (heartbeats, rollups, sent commands, the audit log), in batches."""
    with worker.app.app_context():
        try:
            retention.prune(clock.now())
        except Exception:
            db.session.rollback()
            log.exception("pruning old records failed")


def sync_broker(worker) -> None:
    """Bring the broker's accounts in step with the fleet (a cluster enrolled, retired, given a new password)."""
    with worker.app.app_context():
        try:
            worker.broker_sync.sync()
        except Exception:
            db.session.rollback()
            log.exception("keeping the broker's accounts failed")


def plan(worker) -> None:
    """Keep the lock, extend plans, match the dispatch jobs to the due runs, close finished runs, beat; each step
    alone."""
    steps = (
        worker.hold_lock,
        planning.extend_plans,
        lambda: sync_dispatch_jobs(worker),
        dispatch.close_runs,
        worker.beat,
    )
    with worker.app.app_context():
        for step in steps:
            if worker.lock_lost.is_set():  # another scheduler dispatches now: this one only stops (cli.py)
                return
            try:
                step()
            except Exception:  # one failing step must not stop the others, nor the next tick
                db.session.rollback()
                log.exception("planning step %s failed", getattr(step, "__name__", step))


def sync_dispatch_jobs(worker) -> None:
    """Give the due runs their jobs from the Run rows; dispatch those due already (after downtime, a failure)."""
    due = dispatch.due_runs(horizon_s=DISPATCH_HORIZON_S)
    db.session.commit()  # end the read: dispatching below, or on the job threads, reads anew
    for run_id in worker.schedule.sync(due, clock.now()):
        dispatch_run(worker, run_id)
