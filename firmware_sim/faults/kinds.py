"""The fault kinds a scenario may name: their parameters, and how each reaches a cluster.

One table, read by the scenario checker (which fields a fault may carry), the planner
(which parameters are times that `time_scale` shrinks) and the injector (which effect to
apply). `--help` prints it, so adding a kind here documents it there.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

REQUIRED = object()  # a Param default meaning "the scenario must give it"


class Effect(Enum):
    """How a fault reaches a cluster, which decides what the injector does at its start and end."""

    LINK = "link"  # the link dies without a word (no DISCONNECT); the cluster reconnects when it ends
    POWER = "power"  # the pole loses power: link dead without a word, memory lost; back with a new boot_id
    CRASH = "crash"  # the firmware restarts: the kernel closes the socket, memory lost; back with a new boot_id
    CLOCK = "clock"  # the cluster's clock leaves true time; armed runs are re-timed by it
    HANG = "hang"  # the application hangs, its link up; when it ends, it handles the commands it ignored
    STATE = "state"  # a condition the firmware or session consults as it works (silent, loss, dead amplifier …)


def number(low: float | None = None, high: float | None = None, above: float | None = None):
    """Return a check for a number within [low, high] (or strictly above `above`)."""

    def check(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            return "must be a number"
        if above is not None and value <= above:
            return f"must be more than {above:g}"
        if low is not None and value < low:
            return f"must be at least {low:g}"
        if high is not None and value > high:
            return f"must be at most {high:g}"
        return None

    return check


def whole(low: int):
    def check(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int):
            return "must be a whole number"
        return f"must be at least {low}" if value < low else None

    return check


def one_of(*options: str):
    def check(value: Any) -> str | None:
        return None if value in options else f"must be one of {', '.join(options)}"

    return check


@dataclass(frozen=True)
class Param:
    """One parameter of a fault kind.

    `ranged`: it may be given as `[low, high]`, and each chosen cluster then draws its own value
    (seeded). `timed`: it is a time on the scenario's schedule, so `time_scale` multiplies it.
    """

    name: str
    check: Callable[[Any], str | None]
    default: Any
    help: str
    ranged: bool = False
    timed: bool = False


@dataclass(frozen=True)
class FaultKind:
    """A kind of fault: its effect, its parameters, and what `duration` means for it."""

    name: str
    effect: Effect
    help: str
    params: tuple[Param, ...] = ()
    default_duration: float | None = None  # None: until the simulator stops
    has_duration: bool = True  # flap derives its periods from its cycles

    def param(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)


SHARE = number(0.0, 1.0)

KINDS: dict[str, FaultKind] = {
    kind.name: kind
    for kind in (
        FaultKind("offline", Effect.LINK, "the link dies abruptly: the broker publishes the will after 1.5 "
                  "keep-alives; the cluster reconnects when the period ends"),
        FaultKind(
            "flap", Effect.LINK, "offline and online in cycles",
            (Param("cycles", whole(1), 3, "how many offline periods"),
             Param("down_s", number(above=0), 10.0, "seconds offline per cycle", ranged=True, timed=True),
             Param("up_s", number(above=0), 20.0, "seconds online between them", ranged=True, timed=True)),
            has_duration=False,
        ),
        FaultKind("power_cut", Effect.POWER, "power lost: offline without a word, armed runs lost; on "
                  "restoration every cluster reboots (new boot_id) and reconnects through the connect pacer"),
        FaultKind("silent", Effect.HANG, "hung application: connected and answering keep-alives, but no "
                  "heartbeats and every command ignored, unacknowledged; handled in order when the period ends"),
        FaultKind(
            "loss", Effect.STATE, "a flaky link loses messages: a lost heartbeat is gone; a lost command or event "
            "breaks the connection and MQTT delivers it again after the reconnect",
            (Param("rate", number(above=0, high=1), 0.1, "share of messages lost", ranged=True),
             Param("direction", one_of("both", "in", "out"), "both", "in: commands, out: heartbeats and events")),
        ),
        FaultKind(
            "delay", Effect.STATE, "added latency on incoming commands and outgoing publishes (order kept)",
            (Param("delay_s", number(0.0), 1.0, "mean added latency", ranged=True),
             Param("jitter_s", number(0.0), 0.5, "each message adds up to this much more", ranged=True)),
        ),
        FaultKind("slow_download", Effect.STATE, "every audio fetch takes longer",
                  (Param("extra_s", number(above=0), 10.0, "seconds added per fetch", ranged=True),)),
        FaultKind("failing_download", Effect.STATE, "fetches fail: `failed`, reason fetch",
                  (Param("rate", number(above=0, high=1), 1.0, "share of fetches that fail", ranged=True),)),
        FaultKind("checksum_mismatch", Effect.STATE, "the bytes fetched do not match sha256: `failed`, reason checksum",
                  (Param("rate", number(above=0, high=1), 1.0, "share of fetches affected", ranged=True),)),
        FaultKind("clock_offset", Effect.CLOCK, "the cluster's clock is off by a constant",
                  (Param("offset_s", number(), REQUIRED, "seconds ahead (negative: behind)", ranged=True),)),
        FaultKind("clock_drift", Effect.CLOCK, "the cluster's clock runs fast or slow from the fault's start",
                  (Param("ppm", number(-100_000, 100_000), REQUIRED, "parts per million fast (negative: slow)",
                         ranged=True),)),
        FaultKind("dead_speakers", Effect.STATE, "horns dead: heartbeats report fewer speakers_ok",
                  (Param("speakers", whole(1), 1, "how many horns are dead"),)),
        FaultKind("dead_amplifier", Effect.STATE, "no amplifier current: runs fail (reason amplifier), tones and "
                  "heartbeats report amp_ok false"),
        FaultKind("reboot", Effect.CRASH, "the firmware restarts at `at`: socket closed, armed runs lost, new boot_id; "
                  "`duration` is the time away", default_duration=1.0),
    )
}


COMMON_FIELDS = """\
every fault may have:
  which clusters: clusters (ids; on the command line a+b+c), ward (a ward id), share (0-1 of the fleet or
    of the ward), count; none of them: all (of the ward); group: faults of one group take the same ones
  when: at (s after the simulator starts, default 0), duration (s, default until it stops),
    spread (each cluster starts up to this many s later); --time-scale multiplies these and flap periods
kinds and their own fields:"""


def describe_kinds() -> str:
    """Return the catalogue as help text: the fields every fault has, then each kind with its parameters."""
    lines = [COMMON_FIELDS]
    for kind in KINDS.values():
        lines.append(f"  {kind.name}: {kind.help}")
        for param in kind.params:
            default = "required" if param.default is REQUIRED else f"default {param.default}"
            ranged = "; [low, high] draws per cluster" if param.ranged else ""
            lines.append(f"      {param.name}: {param.help} ({default}{ranged})")
    return "\n".join(lines)
