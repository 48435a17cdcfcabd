"""Turn a scenario into a plan: which clusters each fault takes, and when each period starts and ends.

The plan is computed on the whole fleet from the seed alone, then cut to the clusters one process
simulates: N shards (`--shard K/N`) together make exactly the plan of one process. Every draw comes
from a generator seeded by (seed, fault, cluster), never from a shared stream, so the order in
which clusters are visited changes nothing.
"""

import logging
import random
from dataclasses import dataclass, field

from firmware_sim.faults.spec import Fault, Scenario
from firmware_sim.roster import ClusterSpec

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class Affliction:
    """One fault acting on one cluster for one period; `start` and `end` are seconds after the simulator starts.

    `params` holds the values this cluster drew, with the scenario's times already scaled; a flap has
    one affliction per cycle (`cycle` from 1). `end` is None for a fault that lasts until the simulator stops.
    """

    fault: Fault = field(repr=False)
    cid: str
    start: float
    end: float | None
    params: dict
    cycle: int | None = None

    @property
    def kind(self) -> str:
        return self.fault.kind


@dataclass
class FaultPlan:
    """Every affliction of a run, in start order, and the seed that chose them."""

    seed: int
    afflictions: list[Affliction]
    chosen: dict[int, list[str]]  # fault index -> the clusters it took, in fleet order (whole fleet)
    warnings: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.afflictions)

    def for_clusters(self, cids: set[str]) -> "FaultPlan":
        """Return the part of the plan that falls on `cids` (one shard's clusters)."""
        mine = [a for a in self.afflictions if a.cid in cids]
        return FaultPlan(self.seed, mine, self.chosen, self.warnings)

    @property
    def last_change(self) -> float:
        """Return when the plan last changes a cluster: the last end, or the last start of a period without one.

        From then on every fault is over or acting for good: what `Fleet.wait_faults_over` waits for.
        """
        return max((a.end if a.end is not None else a.start for a in self.afflictions), default=0.0)


def new_seed() -> int:
    """Draw a seed for a run that was given none; it is logged so the run can be repeated."""
    return random.SystemRandom().randrange(2**31)


def plan_faults(scenario: Scenario | None, fleet: list[ClusterSpec], seed: int, time_scale: float = 1.0) -> FaultPlan:
    """Choose each fault's clusters on the whole `fleet` and lay out its periods, times multiplied by `time_scale`."""
    if time_scale <= 0:
        raise ValueError("time_scale must be positive")
    plan = FaultPlan(seed, [], {})
    for fault in scenario.faults if scenario else ():
        cids = _choose(fault, fleet, seed, plan.warnings)
        plan.chosen[fault.index] = cids
        for cid in cids:
            plan.afflictions.extend(_periods(fault, cid, seed, time_scale))
    plan.afflictions.sort(key=lambda a: (a.start, a.fault.index, a.cycle or 0, a.cid))
    return plan


def _choose(fault: Fault, fleet: list[ClusterSpec], seed: int, warnings: list[str]) -> list[str]:
    label = f"fault {fault.index} ({fault.kind})"
    if fault.clusters:
        known = {spec.cid for spec in fleet}
        missing = [cid for cid in fault.clusters if cid not in known]
        if missing:
            warnings.append(f"{label}: {len(missing)} named clusters are not in the fleet: {', '.join(missing[:5])}")
        wanted = set(fault.clusters)
        return [spec.cid for spec in fleet if spec.cid in wanted]
    candidates = [spec.cid for spec in fleet if fault.ward is None or spec.ward == fault.ward]
    if not candidates:
        warnings.append(f"{label}: no cluster of the fleet is in ward {fault.ward!r}")
        return []
    if fault.share is not None:
        how_many = max(1, int(fault.share * len(candidates) + 0.5))
    elif fault.count is not None:
        how_many = min(fault.count, len(candidates))
        if fault.count > len(candidates):
            warnings.append(f"{label}: count {fault.count} exceeds the {len(candidates)} clusters it may take")
    else:
        return candidates
    rng = random.Random(f"{seed}/choose/{fault.group or fault.index}")
    taken = set(rng.sample(candidates, how_many))
    return [cid for cid in candidates if cid in taken]


def _periods(fault: Fault, cid: str, seed: int, scale: float) -> list[Affliction]:
    rng = random.Random(f"{seed}/draw/{fault.index}/{cid}")
    offset = rng.uniform(0, fault.spread) if fault.spread else 0.0
    params = {}
    for param in fault.catalogue.params:
        value = fault.params[param.name]
        if isinstance(value, tuple):
            value = round(rng.uniform(*value), 3)
        params[param.name] = value * scale if param.timed else value
    start = (fault.at + offset) * scale
    if fault.kind == "flap":
        cycle_s = params["down_s"] + params["up_s"]
        return [Affliction(fault, cid, start + n * cycle_s, start + n * cycle_s + params["down_s"], params, n + 1)
                for n in range(params["cycles"])]
    end = None if fault.duration is None else start + fault.duration * scale
    return [Affliction(fault, cid, start, end, params)]
