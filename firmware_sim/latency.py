"""Latency on a slow link: messages held back, in order, as TCP keeps them."""

from collections.abc import Callable

from firmware_sim.timers import Timers


class Latency:
    """Pass messages on after the latency a slow link adds, never letting a later one overtake."""

    __slots__ = ("_timers", "_clear_at")

    def __init__(self, timers: Timers):
        self._timers = timers
        self._clear_at = float("-inf")  # when the last message held back comes out

    def pass_on(self, now: float, latency: float, callback: Callable, *args) -> None:
        """Call `callback(*args)` after `latency` seconds, or later if an earlier message is still held back."""
        if latency <= 0 and self._clear_at <= now:
            callback(*args)
            return
        self._clear_at = max(self._clear_at, now + latency)
        self._timers.call_at(self._clear_at, callback, *args)
