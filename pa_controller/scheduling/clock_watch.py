"""Notice the wall clock set back, which APScheduler does not.

APScheduler times its jobs by the wall clock: stepped back by minutes (NTP at boot, a technician's `date`), its
interval jobs wait for the clock to come back to where they were due, and the plan tick, the fleet watch and the
broker's accounts stop for as many minutes. A thread that compares the wall clock with the monotonic one, which
no one steps, notices the step within a second and has the jobs run now. A step forward needs nothing: the jobs
are due at once and run once (coalesce).
"""

import logging
import time
from collections.abc import Callable

from pa_controller.messaging.worker_thread import WorkerThread

log = logging.getLogger(__name__)


def wall_minus_monotonic() -> float:
    """Return what stays constant while neither clock is stepped (NTP's slewing moves it by milliseconds)."""
    return time.time() - time.monotonic()


class ClockWatch(WorkerThread):
    """Call `on_set_back(seconds)` when the wall clock goes back by more than `tolerance_s`."""

    def __init__(self, on_set_back: Callable[[float], None], *, interval_s: float = 1.0, tolerance_s: float = 1.0,
                 reading: Callable[[], float] = wall_minus_monotonic):
        self.on_set_back = on_set_back
        self.interval_s = interval_s
        self.tolerance_s = tolerance_s
        self.reading = reading
        super().__init__("clock-watch")

    def _run(self) -> None:
        last = self.reading()
        while not self._stop.wait(self.interval_s):
            now = self.reading()
            if now < last - self.tolerance_s:
                try:
                    self.on_set_back(last - now)
                except Exception:  # the watch must outlive a failed reschedule
                    log.exception("could not reschedule the jobs after the clock went back")
            last = now
