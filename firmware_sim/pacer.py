"""Pace connection attempts so a fleet's connect storm does not flatten the broker."""

import collections
from collections.abc import Callable

from firmware_sim.timers import Timer, Timers

TICK_S = 0.01
CATCH_UP_S = 0.1  # a slow loop iteration may make up for this much lost time, no more


class ConnectPacer:
    """Let queued connection attempts through at no more than `rate` per second (0 means unpaced)."""

    def __init__(self, timers: Timers, clock: Callable[[], float], rate: float):
        self.timers = timers
        self.clock = clock
        self.rate = rate
        self._queue: collections.deque[Callable[[], None]] = collections.deque()
        self._tokens = 0.0
        self._last = float("-inf")
        self._tick: Timer | None = None

    def __len__(self) -> int:
        return len(self._queue)

    def request(self, attempt: Callable[[], None]) -> None:
        """Queue one connection attempt; it runs on the loop when its turn comes."""
        self._queue.append(attempt)
        if self._tick is None:
            self._tick = self.timers.call_at(self.clock(), self._release)

    def clear(self) -> None:
        """Drop every queued attempt."""
        self._queue.clear()

    def _release(self) -> None:
        self._tick = None
        now = self.clock()
        if self.rate <= 0:
            allowed = len(self._queue)
        else:
            elapsed = now - self._last
            burst = max(1.0, self.rate * min(max(TICK_S, elapsed), CATCH_UP_S))
            self._tokens = min(burst, self._tokens + elapsed * self.rate)
            allowed = int(self._tokens)
            self._tokens -= allowed
        self._last = now
        for _ in range(min(allowed, len(self._queue))):
            self._queue.popleft()()
        if self._queue:
            wait = TICK_S if self.rate <= 0 else max(TICK_S, (1.0 - self._tokens) / self.rate)
            self._tick = self.timers.call_at(now + wait, self._release)
