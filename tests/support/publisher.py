"""A stand-in for the outbox publisher that records the wake-ups and poll intervals it is given."""


class Recorder:
    """A publisher that records what it is told."""

    def __init__(self):
        self.polls: list[float] = []
        self.wakes = 0

    def wake(self) -> None:
        self.wakes += 1

    def poll_every(self, seconds: float) -> None:
        self.polls.append(seconds)
