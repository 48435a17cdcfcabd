"""Faults for testers: what can go wrong on a pole, on which clusters, and when — reproducible from a seed.

A scenario (TOML in firmware_sim/scenarios/, or --fault flags) lists faults. Each names a `kind`
(kinds.py: offline, flap, power_cut, silent, loss, delay, slow_download, failing_download,
checksum_mismatch, clock_offset, clock_drift, dead_speakers, dead_amplifier, reboot) and its
parameters; which clusters it takes (`clusters` = ids, `ward`, `share` of the fleet or ward, or
`count`; all of them if none; faults with the same `group` take the same ones); and when, in
seconds after the simulator starts (`at`, `duration`, plus a per-cluster `spread`).

kinds.py is the catalogue, spec.py checks what a scenario says, library.py finds and reads
scenarios and --fault flags, plan.py chooses the clusters and lays out the periods on the whole
fleet from the seed, and injector.py applies the plan on the loop: it adds each affliction to its
cluster's condition (firmware_sim/condition.py, which the firmware and its session consult) and
writes each start and end to the truth log (event `fault`). The dependency goes one way: this
package knows the firmware; the firmware knows only its condition.
"""

from firmware_sim.faults.kinds import KINDS, describe_kinds
from firmware_sim.faults.library import (
    FLAG_SYNTAX,
    LIBRARY,
    combine,
    library,
    library_names,
    load_scenario,
    parse_fault_flag,
)
from firmware_sim.faults.plan import Affliction, FaultPlan, new_seed, plan_faults
from firmware_sim.faults.spec import Fault, Scenario, ScenarioError

__all__ = [
    "FLAG_SYNTAX",
    "KINDS",
    "LIBRARY",
    "Affliction",
    "Fault",
    "FaultPlan",
    "Scenario",
    "ScenarioError",
    "combine",
    "describe_kinds",
    "library",
    "library_names",
    "load_scenario",
    "new_seed",
    "parse_fault_flag",
    "plan_faults",
]
