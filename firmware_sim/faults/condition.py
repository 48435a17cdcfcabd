"""What ails one cluster right now: the afflictions acting on it, summed into the values its firmware consults.

A healthy cluster pays one attribute test per heartbeat or message; nothing here does I/O.
Overlapping afflictions add up: two losses of 10 % lose 19 %, two offsets add, a second
dead-speakers fault kills more horns.
"""

import random


def _either(rates: list[float]) -> float:
    """Return the chance that at least one of independent chances happens."""
    kept = 1.0
    for rate in rates:
        kept *= 1.0 - rate
    return 1.0 - kept


class Condition:
    """The sum of one cluster's active afflictions, with the cluster's own random stream for their outcomes.

    `rng` is seeded by (plan seed, cluster id) when the first affliction arrives, so the same
    seed and scenario give the same lost messages and failed fetches, whatever the shard.
    """

    __slots__ = ("seed", "_rng", "_active", "silent", "loss_in", "loss_out", "delay_s", "jitter_s",
                 "extra_fetch_s", "fetch_failure", "checksum_failure", "dead_speakers", "dead_amplifier",
                 "_offset_s", "_drifts")

    def __init__(self, seed: str | None = None):
        self.seed = seed
        self._rng: random.Random | None = None
        self._active: list[tuple[object, float]] = []
        self._settle()

    @property
    def rng(self) -> random.Random:
        if self._rng is None:
            self._rng = random.Random(self.seed)
        return self._rng

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

    def loses(self, incoming: bool) -> bool:
        """Draw whether the flaky link loses this message (a command if `incoming`, else a publish)."""
        rate = self.loss_in if incoming else self.loss_out
        return rate > 0 and self.rng.random() < rate

    @property
    def delays(self) -> bool:
        return self.delay_s > 0 or self.jitter_s > 0

    def latency(self) -> float:
        """Draw the latency the link adds to one message."""
        return self.delay_s + (self.rng.uniform(0, self.jitter_s) if self.jitter_s else 0.0)

    # ----- downloads

    def download_fault(self) -> str | None:
        """Draw what goes wrong with one fetch: `fetch`, `checksum`, or None."""
        if self.fetch_failure and self.rng.random() < self.fetch_failure:
            return "fetch"
        if self.checksum_failure and self.rng.random() < self.checksum_failure:
            return "checksum"
        return None
