"""What ails one cluster right now: the afflictions acting on it, summed into the values its firmware consults.

The fault injector (firmware_sim.faults) adds and removes afflictions; the firmware and its
session only read the sums, so this module knows nothing of scenarios or plans. A healthy
cluster pays one attribute test per heartbeat or message; nothing here does I/O. Overlapping
afflictions add up: two losses of 10 % lose 19 %, two offsets add, a second dead-speakers fault
kills more horns.
"""

from firmware_sim.dice import Dice


def _either(rates: list[float]) -> float:
    """Return the chance that at least one of independent chances happens."""
    kept = 1.0
    for rate in rates:
        kept *= 1.0 - rate
    return 1.0 - kept


class Condition:
    """The sum of one cluster's active afflictions, and the draws of their outcomes.

    Each outcome is drawn by the cluster's `dice` under the key of the message or command it is
    about, so the same seed and scenario lose the same messages and fail the same fetches, whatever
    the shard and however many heartbeats came between.
    """

    __slots__ = ("dice", "_active", "silent", "loss_in", "loss_out", "delay_s", "jitter_s",
                 "extra_fetch_s", "fetch_failure", "checksum_failure", "dead_speakers", "dead_amplifier",
                 "_offset_s", "_drifts")

    def __init__(self, dice: Dice | None = None):
        self.dice = dice if dice is not None else Dice(0, "")
        self._active: list[tuple[object, float]] = []
        self._settle()

    @property
    def afflicted(self) -> bool:
        return bool(self._active)

    def kinds(self) -> list[str]:
        """Return the kinds of the afflictions acting now."""
        return [affliction.kind for affliction, _ in self._active]

    def add(self, affliction, since: float) -> None:
        """Start acting on an affliction (a plan's Affliction: `kind` and `params`) from true time `since`."""
        self._active.append((affliction, since))
        self._settle()

    def remove(self, affliction) -> None:
        """Stop acting on an affliction."""
        self._active = [(a, since) for a, since in self._active if a is not affliction]
        self._settle()

    def _settle(self) -> None:
        self.silent = self.dead_amplifier = False
        self.loss_in = self.loss_out = self.delay_s = self.jitter_s = self.extra_fetch_s = 0.0
        self.fetch_failure = self.checksum_failure = self._offset_s = 0.0
        self.dead_speakers = 0
        self._drifts = []
        if not self._active:
            return  # the common case, and the only one at start: ten thousand healthy clusters
        of: dict[str, list[tuple[dict, float]]] = {}
        for affliction, since in self._active:
            of.setdefault(affliction.kind, []).append((affliction.params, since))

        def values(kind: str, name: str) -> list:
            return [params[name] for params, _ in of.get(kind, [])]

        losses = [params for params, _ in of.get("loss", [])]
        self.silent = "silent" in of
        self.loss_in = _either([p["rate"] for p in losses if p["direction"] in ("in", "both")])
        self.loss_out = _either([p["rate"] for p in losses if p["direction"] in ("out", "both")])
        self.delay_s = sum(values("delay", "delay_s"))
        self.jitter_s = sum(values("delay", "jitter_s"))
        self.extra_fetch_s = sum(values("slow_download", "extra_s"))
        self.fetch_failure = _either(values("failing_download", "rate"))
        self.checksum_failure = _either(values("checksum_mismatch", "rate"))
        self.dead_speakers = sum(values("dead_speakers", "speakers"))
        self.dead_amplifier = "dead_amplifier" in of
        self._offset_s = sum(values("clock_offset", "offset_s"))
        self._drifts = [(params["ppm"] * 1e-6, since) for params, since in of.get("clock_drift", [])]

    # ----- the cluster's clock

    @property
    def clock_off(self) -> bool:
        """Tell whether the cluster's clock differs from true time."""
        return bool(self._offset_s or self._drifts)

    def local_time(self, true: float) -> float:
        """Return what the cluster's clock reads at true time `true`."""
        if not self.clock_off:
            return true
        return true + self._offset_s + sum(rate * (true - since) for rate, since in self._drifts)

    def true_time(self, local: float) -> float:
        """Return the true time at which the cluster's clock reads `local`."""
        if not self.clock_off:
            return local
        rate = sum(r for r, _ in self._drifts)
        return (local - self._offset_s + sum(r * since for r, since in self._drifts)) / (1.0 + rate)

    # ----- the link

    @property
    def flaky(self) -> bool:
        """Tell whether the link loses or delays messages now (only then do messages need a key)."""
        return bool(self.loss_in or self.loss_out or self.delay_s or self.jitter_s)

    def loses(self, incoming: bool, key: str) -> bool:
        """Draw whether the flaky link loses one message (a command if `incoming`, else a publish) named by `key`."""
        if incoming:
            return self.dice.chance(self.loss_in, "loss-in", key)
        return self.dice.chance(self.loss_out, "loss-out", key)

    def latency(self, incoming: bool, key: str) -> float:
        """Draw the latency the link adds to one message named by `key`."""
        if not self.jitter_s:
            return self.delay_s
        return self.delay_s + self.dice.uniform(0, self.jitter_s, "delay-in" if incoming else "delay-out", key)

    # ----- downloads

    def download_fault(self, cmd_id: str) -> str | None:
        """Draw what goes wrong with the fetch for one command: `fetch`, `checksum`, or None."""
        if self.dice.chance(self.fetch_failure, "fetch-failure", cmd_id):
            return "fetch"
        if self.dice.chance(self.checksum_failure, "checksum-mismatch", cmd_id):
            return "checksum"
        return None
