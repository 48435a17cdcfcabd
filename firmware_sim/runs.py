"""One run in a cluster's hands: a clip or a test tone on its way to the speakers."""

from dataclasses import dataclass, field
from enum import Enum

from firmware_sim.timers import Timer
from pa_controller.domain import Priority


class Phase(Enum):
    """Where a run stands inside the cluster."""

    FETCHING = "fetching"  # audio on its way, not yet verified
    ARMED = "armed"  # verified, waiting for start_at
    WAITING = "waiting"  # due, waiting for the speakers to be free
    PLAYING = "playing"


class Kind(Enum):
    CLIP = "clip"
    TONE = "tone"


@dataclass(eq=False)
class Run:
    """A clip (run id from the controller) or a test tone (no run id)."""

    cmd_id: str
    run_id: str | None
    kind: Kind
    priority: Priority
    start_at: float
    duration_ms: int
    order: int
    sha256: str | None = None
    volume: int | None = None
    phase: Phase = Phase.FETCHING
    started_at: float | None = None
    timer: Timer | None = field(default=None, repr=False)

    @property
    def key(self) -> str:
        """Return the id the cluster files this run under."""
        return self.run_id if self.run_id is not None else f"tone:{self.cmd_id}"

    @property
    def rank(self) -> tuple:
        """Return the sort key for who plays first: priority, then earliest start, then earliest arrival."""
        return (self.priority.rank, -self.start_at, -self.order)

    def set_timer(self, timer: Timer | None) -> None:
        """Replace the run's one pending timer."""
        if self.timer is not None:
            self.timer.cancel()
        self.timer = timer
