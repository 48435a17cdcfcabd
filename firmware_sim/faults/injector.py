"""Apply a fault plan on the loop: each affliction starts and ends on its timer, leaving truth lines and counts."""

import logging
import threading
from collections import Counter
from collections.abc import Mapping
from typing import Protocol

from firmware_sim.board import Board, stamp
from firmware_sim.faults.kinds import KINDS, Effect
from firmware_sim.faults.plan import Affliction, FaultPlan
from firmware_sim.firmware import Firmware
from firmware_sim.timers import Timer

log = logging.getLogger(__name__)


class Target(Protocol):
    """What a fault acts on: a cluster's session (its link and power) and its firmware."""

    firmware: Firmware

    def cut_link(self) -> None: ...

    def restore_link(self) -> None: ...

    def power_off(self, cause: str, quietly: bool) -> None: ...

    def power_on(self, cause: str) -> None: ...

    def recover(self) -> None: ...


class FaultInjector:
    """Start and end every affliction of `plan` on the clusters of `targets`, at `began` + its times.

    Each start and end is written to the truth log (event `fault`) before it takes effect, and
    counted in the tally; `over` is set once every period with an end has ended.
    """

    def __init__(self, plan: FaultPlan, targets: Mapping[str, Target], board: Board):
        self.plan = plan
        self.targets = targets
        self.board = board
        self.over = threading.Event()
        self._active: dict[Affliction, Timer | None] = {}
        self._timers: list[Timer] = []
        self._outstanding = len(plan)
        self._periods = Counter(a.fault.index for a in plan.afflictions if a.end is not None)
        self._clusters = {index: len({a.cid for a in plan.afflictions if a.fault.index == index})
                          for index in {a.fault.index for a in plan.afflictions}}
        self._started: Counter = Counter()
        self._ended: Counter = Counter()

    def start(self, began: float) -> None:
        """Schedule every affliction relative to `began` (loop thread)."""
        self.board.tally.faults_planned += len(self.plan)
        for affliction in self.plan.afflictions:
            self._timers.append(self.board.timers.call_at(began + affliction.start, self._begin, affliction, began))
        if not self._outstanding:
            self.over.set()

    def finish(self) -> None:
        """The simulator stops: write the end of every affliction still acting, and start no more."""
        for timer in self._timers:
            timer.cancel()
        for affliction, timer in list(self._active.items()):
            if timer is not None:
                timer.cancel()
            self._record(affliction, "end", stopped=True)
        self.board.tally.faults_active -= len(self._active)
        self._active.clear()

    def _begin(self, affliction: Affliction, began: float) -> None:
        target = self.targets[affliction.cid]
        self._record(affliction, "start")
        self._announce(affliction, "start")
        target.firmware.condition.add(affliction, self.board.now())
        effect = KINDS[affliction.kind].effect
        if effect is Effect.LINK:
            target.cut_link()
        elif effect in (Effect.POWER, Effect.CRASH):
            target.power_off(affliction.kind, quietly=effect is Effect.POWER)
        elif effect is Effect.CLOCK:
            target.firmware.clock_changed()
        tally = self.board.tally
        tally.faults_applied += 1
        tally.faults_active += 1
        ending = None
        if affliction.end is not None:
            ending = self.board.timers.call_at(began + affliction.end, self._end, affliction)
        else:
            self._count_down()
        self._active[affliction] = ending

    def _end(self, affliction: Affliction) -> None:
        del self._active[affliction]
        target = self.targets[affliction.cid]
        self._record(affliction, "end")
        self._announce(affliction, "end")
        target.firmware.condition.remove(affliction)
        effect = KINDS[affliction.kind].effect
        if effect is Effect.LINK:
            target.restore_link()
        elif effect in (Effect.POWER, Effect.CRASH):
            target.power_on(affliction.kind)
        elif effect is Effect.CLOCK:
            target.firmware.clock_changed()
        elif effect is Effect.HANG:
            target.recover()
        self.board.tally.faults_active -= 1
        self._count_down()

    def _count_down(self) -> None:
        self._outstanding -= 1
        if self._outstanding == 0:
            self.over.set()

    def _record(self, affliction: Affliction, phase: str, **extra) -> None:
        record = {"cid": affliction.cid, "event": "fault", "fault": affliction.kind, "at": stamp(self.board.now()),
                  "phase": phase, "index": affliction.fault.index}
        if affliction.cycle is not None:
            record["cycle"] = affliction.cycle
        self.board.afterwards(self.board.truth.write, {**record, **affliction.params, **extra})

    def _announce(self, affliction: Affliction, phase: str) -> None:
        """Log when a fault starts on its first cluster and when its last period ends: two lines, not thousands."""
        index = affliction.fault.index
        if phase == "start":
            self._started[index] += 1
            if self._started[index] == 1:
                log.info("fault %d (%s) starts; it takes %d clusters", index, affliction.kind, self._clusters[index])
        else:
            self._ended[index] += 1
            if self._ended[index] == self._periods[index]:
                log.info("fault %d (%s) is over on every cluster", index, affliction.kind)
