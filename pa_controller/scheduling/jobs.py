"""Scheduler jobs: module-level functions that take ids (APScheduler pickles references to them)."""

import logging

from pa_controller import clock
from pa_controller.extensions import db
from pa_controller.services import alerts, dispatch, fleet_watch, planning, remote, telemetry

log = logging.getLogger(__name__)
_worker = None  # the running Worker, set by Worker.start in the one scheduler process


def bind(worker) -> None:
    global _worker
    _worker = worker


def dispatch_run(run_id: int) -> None:
    """Dispatch one run and wake the outbox publisher; after a failure the next plan tick tries again."""
    with _worker.app.app_context():
        try:
            sent = dispatch.dispatch_run(run_id)
        except Exception:
            db.session.rollback()
            _worker.forget_dispatch(run_id)
            log.exception("dispatching run %s failed; retrying at the next plan tick", run_id)
            return
    _worker.forget_dispatch(run_id)  # it is no longer scheduled: no plan tick returns it again
    if sent:
        _worker.outbox.wake()


def watch() -> None:
    """Judge the fleet (outages, incidents) and tell the webhook; a failure waits for the next tick."""
    with _worker.app.app_context():
        try:
            now = clock.now()
            fleet_watch.sweep(now)
            remote.confirm_volumes(now)
            alerts.notify(now)
        except Exception:
            db.session.rollback()
            log.exception("watching the fleet failed")


def plan() -> None:
    """Extend plans, give every due run its dispatch job, close finished runs, beat; each step alone."""
    steps = (
        planning.extend_plans,
        lambda: [_worker.schedule_dispatch(run_id, at) for run_id, at in dispatch.due_runs(horizon_s=3600)],
        dispatch.close_runs,
        telemetry.prune,  # does its work at most once a minute
        _worker.beat,
    )
    with _worker.app.app_context():
        for step in steps:
            try:
                step()
            except Exception:  # one failing step must not stop the others, nor the next tick
                db.session.rollback()
                log.exception("planning step %s failed", getattr(step, "__name__", step))
