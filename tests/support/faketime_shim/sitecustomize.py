"""Loaded, through PYTHONPATH, only into a process run under libfaketime (tests/support/faked_clock.py).

libfaketime 0.9.10 (Debian 12) breaks `time.sleep` on Python 3.11 once the monotonic clock is left alone
(wolfcw/libfaketime#426: clock_nanosleep with TIMER_ABSTIME gets a negative time, EINVAL). Waiting on an event
goes through sem_clockwait on the monotonic clock, which it leaves intact: sleep that way.
"""

import threading
import time


def _sleep(seconds: float) -> None:
    threading.Event().wait(seconds)


time.sleep = _sleep
