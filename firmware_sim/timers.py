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

    A failing call raises out of run_due unless `on_error` is given to take it.
    """

    def __init__(self, on_error: Callable[[Exception], None] | None = None) -> None:
        self._heap: list[tuple[float, int, Timer]] = []
        self._order = itertools.count()
        self._on_error = on_error

    def __len__(self) -> int:
        return len(self._heap)

    def call_at(self, when: float, callback: Callable, *args) -> Timer:
        """Schedule `callback(*args)` at the absolute time `when`."""
        timer = Timer(when, callback, args)
        heapq.heappush(self._heap, (when, next(self._order), timer))
        return timer

    def next_due(self) -> float | None:
        """Return when the earliest live timer falls due, or None."""
        heap = self._heap
        while heap and heap[0][2].cancelled:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def run_due(self, now: float) -> int:
        """Run every timer due at or before `now` in due order; return how many ran."""
        heap = self._heap
        ran = 0
        while heap and heap[0][0] <= now:
            _, _, timer = heapq.heappop(heap)
            callback, args = timer.callback, timer.args
            if callback is None:
                continue
            timer.cancel()
            ran += 1
            if self._on_error is None:
                callback(*args)
                continue
            try:
                callback(*args)
            except Exception as exc:
                self._on_error(exc)
        return ran
