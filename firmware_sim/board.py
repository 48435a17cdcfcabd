"""What every simulated cluster shares (clock, timers, fetcher, truth, seed, counters) and the ports it uses."""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

import pa_protocol as protocol
from firmware_sim.keyring import CommandKeys
from firmware_sim.media import FetchOutcome
from firmware_sim.tally import Tally
from firmware_sim.timers import Timers

FW_VERSION = "loanet-sim/0.1.0"


class Uplink(Protocol):
    """The firmware's way out: publish a payload, or drop the connection for a reboot."""

    def send(self, kind: str, payload: dict) -> None: ...

    def restart(self) -> None: ...


class AudioSource(Protocol):
    def fetch(self, audio: dict, done: Callable[[FetchOutcome], None]) -> None: ...


class TruthSink(Protocol):
    def write(self, record: dict) -> None: ...


@dataclass
class Board:
    """What every simulated cluster shares: clock, timers, fetcher, truth log, the seed of its draws, counters,
    and the command keys it trusts.

    Every random draw of a cluster comes from a stream keyed by (seed, cluster id, purpose): see `Dice`.
    """

    clock: Callable[[], float]
    timers: Timers
    audio: AudioSource
    truth: TruthSink
    keys: CommandKeys
    seed: int = 0
    tally: Tally = field(default_factory=Tally)
    heartbeat_s: float = 30.0
    fw: str = FW_VERSION

    def now(self) -> float:
        """Return a cluster's time: the instant of the timer batch being run, else the clock.

        Every cluster that a batch starts has started sound at that instant, however long the one
        loop thread takes to get through the batch: each real cluster has a CPU of its own.
        """
        instant = self.timers.instant
        return self.clock() if instant is None else instant

    def afterwards(self, callback: Callable, *args) -> None:
        """Do I/O (publish, write truth) once the running timer batch is through, or at once outside one."""
        self.timers.afterwards(callback, *args)


def stamp(moment: float) -> str:
    """Render epoch seconds as a wire time."""
    return protocol.format_time(datetime.fromtimestamp(moment, UTC))


def epoch(text: str) -> float:
    """Parse a wire time into epoch seconds."""
    return protocol.parse_time(text).timestamp()
