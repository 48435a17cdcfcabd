"""A heap of timers: the only way anything in the simulator happens later."""

import heapq
import itertools
from collections.abc import Callable


class Timer:
    """One pending call; cancel it to skip it when it falls due."""

    __slots__ = ("when", "callback", "args")

    def __init__(self, when: float, callback: Callable, args: tuple):
        self.when = when
        self.callback: Callable | None = callback
        self.args = args

    @property
    def cancelled(self) -> bool:
        return self.callback is None

    def cancel(self) -> None:
        """Skip this call; the heap entry is dropped lazily when it falls due."""
        self.callback = None
        self.args = ()


class Timers:
    """Keep calls in a heap by due time and run the due ones; O(log n) per timer, nothing per idle tick.

    The timers that `run_due` finds due form one batch, run as one instant: while it runs, `instant`
    is the moment it was called for, and I/O handed to `afterwards` waits until every timer of the
    batch has run. One loop thread plays many clusters that in life each have a CPU of their own:
    so a cluster due at the same moment as 455 others starts its sound then, not after the others
    have published their events.

    A failing call raises out of run_due unless `on_error` is given to take it.
    """

    def __init__(self, on_error: Callable[[Exception], None] | None = None) -> None:
        self._heap: list[tuple[float, int, Timer]] = []
        self._order = itertools.count()
        self._on_error = on_error
        self._instant: float | None = None
        self._later: list[tuple[Callable, tuple]] | None = None

    def __len__(self) -> int:
        return len(self._heap)

    @property
    def instant(self) -> float | None:
        """Return the moment of the batch being run, or None outside run_due."""
        return self._instant

    def call_at(self, when: float, callback: Callable, *args) -> Timer:
        """Schedule `callback(*args)` at the absolute time `when`."""
        timer = Timer(when, callback, args)
        heapq.heappush(self._heap, (when, next(self._order), timer))
        return timer

    def afterwards(self, callback: Callable, *args) -> None:
        """Call `callback(*args)` once every timer of the running batch has run; at once outside a batch.

        For I/O (publishing, logging) whose cost must not delay what the other timers of the
        batch do; calls keep the order they were handed over in.
        """
        if self._later is None:
            callback(*args)
        else:
            self._later.append((callback, args))

    def next_due(self) -> float | None:
        """Return when the earliest live timer falls due, or None."""
        heap = self._heap
        while heap and heap[0][2].cancelled:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def run_due(self, now: float) -> int:
        """Run every timer due at or before `now` in due order, then their I/O; return how many timers ran."""
        if self._later is not None:
            raise RuntimeError("run_due called from inside a batch")
        heap = self._heap
        ran = 0
        self._instant, self._later = now, []
        try:
            while heap and heap[0][0] <= now:
                _, _, timer = heapq.heappop(heap)
                callback, args = timer.callback, timer.args
                if callback is None:
                    continue
                timer.cancel()
                ran += 1
                self._call(callback, args)
        finally:
            later, self._instant, self._later = self._later, None, None
            for callback, args in later:
                self._call(callback, args)
        return ran

    def _call(self, callback: Callable, args: tuple) -> None:
        if self._on_error is None:
            callback(*args)
            return
        try:
            callback(*args)
        except Exception as exc:
            self._on_error(exc)
