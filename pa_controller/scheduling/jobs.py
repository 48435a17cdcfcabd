"""Scheduler jobs: module-level functions that take ids (APScheduler pickles references to them)."""

import logging

from pa_controller.services import dispatch

log = logging.getLogger(__name__)
_worker = None  # the running Worker, set by Worker.start in the one scheduler process


def bind(worker) -> None:
    global _worker
    _worker = worker


def dispatch_run(run_id: int) -> None:
    """Dispatch one run and wake the outbox publisher."""
    with _worker.app.app_context():
        if dispatch.dispatch_run(run_id):
            _worker.outbox.wake()


def plan() -> None:
    """Give every due run its dispatch job, extend recurring plans, close finished runs."""
    with _worker.app.app_context():
        dispatch.extend_plans()
        for run_id, dispatch_at in dispatch.due_runs(horizon_s=3600):
            _worker.schedule_dispatch(run_id, dispatch_at)
        dispatch.close_runs()
        _worker.beat()
