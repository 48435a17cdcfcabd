"""The dispatch jobs, a copy in memory of the Run rows: the database is the schedule, APScheduler only fires it.

Nothing of it is stored. The worker's first plan tick (at start) derives it from the scheduled runs due within
DISPATCH_HORIZON_S, and every plan tick after (every 0.5 s by default) makes it match them again: a run saved,
moved, cancelled or deleted on the web reaches the scheduler within one tick. A run already due when a tick finds
it (a worker restarted after downtime, a dispatch that failed) is handed back to be dispatched at once; a "now"
broadcast does not wait for a tick at all, its web request dispatches it.
"""

import threading
from collections.abc import Callable, Iterable
from datetime import datetime

from apscheduler.jobstores.base import JobLookupError

DISPATCH_HORIZON_S = 3600  # runs due within this are given their job; beyond it a later tick gives it


class DispatchSchedule:
    """One APScheduler date job per scheduled run due within the horizon, keyed by run."""

    def __init__(self, scheduler, dispatch: Callable[[int], None]):
        self.scheduler = scheduler
        self.dispatch = dispatch
        self._given: dict[int, datetime] = {}  # run → the dispatch time its job was given
        self._lock = threading.Lock()  # plan ticks sync, dispatch jobs forget, on different threads

    def sync(self, due: Iterable[tuple[int, datetime]], now: datetime) -> list[int]:
        """Make the jobs match the runs `due` (id, dispatch time); return the runs due already, to dispatch now.

        A run that left the list (dispatched, cancelled, deleted, moved past the horizon) loses its job; a run
        whose time changed has its job moved. SQLite may give a new run a deleted one's id: it is the same key,
        and dispatch_run reads the row anew when the job fires.
        """
        due = dict(due)
        overdue = []
        with self._lock:
            for run_id in self._given.keys() - due.keys():
                self._drop(run_id)
            for run_id, dispatch_at in due.items():
                if self._given.get(run_id) == dispatch_at:
                    continue
                self._given[run_id] = dispatch_at
                if dispatch_at <= now:
                    self._drop_job(run_id)
                    overdue.append(run_id)
                    continue
                self.scheduler.add_job(self.dispatch, "date", run_date=dispatch_at, args=[run_id],
                                       id=_job_id(run_id), replace_existing=True)
        return overdue

    def forget(self, run_id: int) -> None:
        """Drop a run from the jobs given: dispatched, or to be given a job again after a failed attempt."""
        with self._lock:
            self._given.pop(run_id, None)

    def clear(self) -> None:
        """Drop every dispatch job (the worker stops; the next start derives them again)."""
        with self._lock:
            for run_id in list(self._given):
                self._drop(run_id)

    def _drop(self, run_id: int) -> None:
        del self._given[run_id]
        self._drop_job(run_id)

    def _drop_job(self, run_id: int) -> None:
        try:
            self.scheduler.remove_job(_job_id(run_id))
        except JobLookupError:  # it fired already, or the run was due when given
            pass


def _job_id(run_id: int) -> str:
    return f"dispatch-run-{run_id}"
