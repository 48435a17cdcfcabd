"""One run in a cluster's hands: a clip, a live relay or a test tone on its way to the speakers."""

from dataclasses import dataclass, field
from enum import Enum

import pa_protocol as protocol
from firmware_sim.timers import Timer
from pa_protocol import Priority


class Phase(Enum):
    """Where a run stands inside the cluster."""

    FETCHING = "fetching"  # audio on its way, not yet verified (a relay passes straight through)
    ARMED = "armed"  # verified, waiting for start_at
    WAITING = "waiting"  # due, waiting for the speakers to be free
    PLAYING = "playing"


class Kind(Enum):
    CLIP = "clip"  # a recorded clip: plays its whole length from its first second
    RELAY = "relay"  # a live stream: plays whatever is on air until end_at
    TONE = "tone"


@dataclass(eq=False)
class Run:
    """A clip or a relay (run id from the controller), or a test tone (no run id).

    A relay has no sha256: it carries its `stream_url` and the `end_at` of its window instead.
    """

    cmd_id: str
    run_id: str | None
    kind: Kind
    priority: Priority
    start_at: float
    duration_ms: int
    order: int
    sha256: str | None = None
    volume: int | None = None
    end_at: float | None = None
    stream_url: str | None = None
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

    def silent_at(self, started: float) -> float:
        """Return when the run falls silent if it starts at `started`.

        A clip always plays its whole length; a live relay ends with its window, however late it joined.
        """
        if self.kind is Kind.RELAY:
            return self.end_at
        return started + self.duration_ms / 1000

    def set_timer(self, timer: Timer | None) -> None:
        """Replace the run's one pending timer."""
        if self.timer is not None:
            self.timer.cancel()
        self.timer = timer


def clip_run(command: dict, order: int) -> Run:
    """Build the Run of a checked play command."""
    audio = command["audio"]
    return Run(
        cmd_id=command["id"],
        run_id=command["run_id"],
        kind=Kind.CLIP,
        priority=Priority(command["priority"]),
        start_at=protocol.parse_time(command["start_at"]).timestamp(),
        duration_ms=command["duration_ms"],
        order=order,
        sha256=audio["sha256"].lower(),
        volume=command.get("volume"),
    )
