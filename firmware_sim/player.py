"""A cluster's runs on their way to the speakers: fetch, arm for start_at, arbitrate by priority, play, report.

The rules are PROTOCOL.md's 2 to 4: audio verified before `ready`, a start by the cluster's own
clock with 2 s of grace (an emergency plays as soon as it is ready), a higher priority preempting
a lower one and equals queueing. Every step is an event on the uplink and what sounded is a truth
record in true time, with what the cluster's clock read if a clock fault moved it.
"""

import logging
from functools import partial
from typing import Protocol

from firmware_sim.board import Board, stamp
from firmware_sim.condition import Condition
from firmware_sim.downloads import fetch_audio
from firmware_sim.media import FetchOutcome
from firmware_sim.outbox import Outbox
from firmware_sim.relay import relay_run
from firmware_sim.runs import Kind, Phase, Run, clip_run
from pa_protocol import EventState, Priority

log = logging.getLogger(__name__)

GRACE_S = 2.0  # PROTOCOL.md rule 3


class Cluster(Protocol):
    """What a player needs of its cluster (the Firmware): identity, hardware, clock, condition and outbox."""

    cid: str
    board: Board
    outbox: Outbox
    condition: Condition
    volume: int

    @property
    def amp_ok(self) -> bool: ...

    def clock(self) -> float: ...


class Player:
    """Hold one cluster's runs and drive its speakers; `cluster` gives the clock, the hardware and the outbox."""

    def __init__(self, cluster: Cluster):
        self.cluster = cluster
        self.board = cluster.board
        self.outbox = cluster.outbox
        self._runs: dict[str, Run] = {}
        self._waiting: list[Run] = []
        self._playing: Run | None = None
        self._verified: set[str] = set()  # sha256 of the audio on its disk: survives power cuts
        self._arrivals = 0
        self._clock_starts: dict[Run, float] = {}  # what the cluster's clock read when a run started, if off

    # ----- looking in

    @property
    def holds_runs(self) -> bool:
        """Tell whether any run is fetching, armed, waiting or playing."""
        return bool(self._runs)

    @property
    def playing_run_id(self) -> str | None:
        return self._playing.run_id if self._playing is not None else None

    @property
    def sounding(self) -> bool:
        return self._playing is not None

    @property
    def armed_run_ids(self) -> list[str]:
        """Return the run ids verified and waiting to play, in arrival order."""
        ready = (Phase.ARMED, Phase.WAITING)
        return [r.run_id for r in self._runs.values() if r.phase in ready and r.run_id is not None]

    # ----- what commands ask of it

    def play(self, command: dict) -> None:
        """Take a clip: arm it at once if its audio is verified already, else fetch it, facing its grace."""
        run = clip_run(command, self._next_arrival())
        if not self._admit(run):
            return
        if run.sha256 in self._verified:
            self._arm(run)
            return
        if run.priority is not Priority.EMERGENCY:
            run.set_timer(self._at_clock(run.start_at + GRACE_S, self._deadline_passed, run))
        fetch_audio(self.cluster.condition, self.board, command["audio"], run.cmd_id, partial(self._fetched, run))

    def relay(self, command: dict) -> None:
        """Take a live relay: the simulator connects to no stream, so it is there at once.

        This is the seam for stream faults: a hook that fails the connection would report `failed`
        (reason `fetch`) here instead of arming the run.
        """
        run = relay_run(command, self._next_arrival())
        if self._admit(run):
            self._arm(run)

    def tone(self, cmd_id: str, duration_ms: int) -> None:
        """Sound a test tone now, in turn with what plays."""
        run = Run(cmd_id, None, Kind.TONE, Priority.NORMAL, self.cluster.clock(), duration_ms, self._next_arrival())
        self._runs[run.key] = run
        self._due(run)

    def cancel(self, run_id: str, by: str) -> None:
        """Drop a run, or stop it if it plays."""
        run = self._runs.get(run_id)
        if run is None:
            log.info("%s has no run %s to cancel", self.cluster.cid, run_id)
            return
        self._interrupt(run, EventState.CANCELLED, by=by)
        self._arbitrate()

    def stop(self, ceiling: Priority, by: str) -> None:
        """Silence now: cancel what plays and every run up to `ceiling`."""
        for run in self._playing_first():
            if run.priority.rank <= ceiling.rank:
                self._interrupt(run, EventState.CANCELLED, by=by)
        self._arbitrate()

    def cancel_all(self, by: str, reason: str) -> None:
        """Cancel every run, each with its event (a reboot the controller asked for)."""
        for run in self._playing_first():
            self._interrupt(run, EventState.CANCELLED, by=by, reason=reason)

    def lose_all(self) -> list[str]:
        """Lose every run without an event (power gone); record the one sounding, return the ids of the others."""
        now = self.board.now()
        lost = []
        for run in self._playing_first():
            if run.phase is Phase.PLAYING:
                self.outbox.truth("interrupted", run.cmd_id, run.run_id, **self._playback(run, now))
            elif run.run_id is not None:
                lost.append(run.run_id)
            self._forget(run)
        return lost

    def halt(self) -> None:
        """Cancel every pending timer: the process is going away."""
        for run in self._runs.values():
            run.set_timer(None)

    def clock_changed(self) -> None:
        """Re-time what waits for the cluster's clock: runs armed for start_at and fetches facing their grace."""
        for run in list(self._runs.values()):
            if run.phase is Phase.ARMED:
                if self.cluster.clock() >= run.start_at:
                    self._due(run)
                else:
                    run.set_timer(self._at_clock(run.start_at, self._due, run))
            elif run.phase is Phase.FETCHING and run.timer is not None:
                run.set_timer(self._at_clock(run.start_at + GRACE_S, self._deadline_passed, run))

    # ----- a run's way to the speakers

    def _admit(self, run: Run) -> bool:
        """File a new clip or relay, unless it is held already or can no longer start (then it is late)."""
        if run.key in self._runs:
            log.info("%s already holds run %s; command %s adds nothing", self.cluster.cid, run.run_id, run.cmd_id)
            return False
        if self._missed_grace(run):
            self._late(run)
            return False
        self._runs[run.key] = run
        return True

    def _fetched(self, run: Run, outcome: FetchOutcome) -> None:
        if outcome.ok:
            self._verified.add(run.sha256)
        if self._runs.get(run.key) is not run or run.phase is not Phase.FETCHING:
            return  # cancelled, stopped or reported late while the fetch ran
        if outcome.ok:
            self._arm(run)
        else:
            self._fail(run, outcome.reason, outcome.message)

    def _deadline_passed(self, run: Run) -> None:
        if self._runs.get(run.key) is run and run.phase is Phase.FETCHING:
            self._forget(run)
            self._late(run)

    def _arm(self, run: Run) -> None:
        if self._missed_grace(run):
            self._forget(run)
            self._late(run)
            return
        run.phase = Phase.ARMED
        self.board.tally.ready += 1
        self.outbox.event(run.cmd_id, EventState.READY, run.run_id)
        if self.cluster.clock() >= run.start_at:
            self._due(run)
        else:
            run.set_timer(self._at_clock(run.start_at, self._due, run))

    def _due(self, run: Run) -> None:
        run.set_timer(None)
        if run.kind is Kind.RELAY:
            # A relay queued behind another run must not outlive its window.
            run.set_timer(self._at_clock(run.end_at, self._window_closed, run))
        run.phase = Phase.WAITING
        self._waiting.append(run)
        self._arbitrate()

    def _arbitrate(self) -> None:
        """Start the best waiting run if the speakers are free or it outranks what plays."""
        while self._waiting:
            best = max(self._waiting, key=lambda r: r.rank)
            if self._playing is not None:
                if best.priority.rank <= self._playing.priority.rank:
                    return
                self._interrupt(self._playing, EventState.PREEMPTED, by=best.run_id or best.cmd_id)
            self._waiting.remove(best)
            if self._start(best):
                return

    def _start(self, run: Run) -> bool:
        now, local = self.board.now(), self.cluster.clock()
        if run.kind is Kind.RELAY and local >= run.end_at:
            self._window_closed(run)
            return False
        if run.kind is not Kind.TONE and not self.cluster.amp_ok:
            self._fail(run, "amplifier", "no amplifier current sensed")
            return False
        run.phase = Phase.PLAYING
        run.started_at = now
        if self.cluster.condition.clock_off:
            self._clock_starts[run] = local
        self._playing = run
        self.board.tally.playing += 1
        self.outbox.event(run.cmd_id, EventState.PLAYING, run.run_id, {"started_at": stamp(local)})
        # A clip sounds for its length in true seconds; a relay's window closes by the cluster's clock.
        if run.kind is Kind.RELAY:
            run.set_timer(self._at_clock(run.end_at, self._ended, run))
        else:
            run.set_timer(self.board.timers.call_at(run.silent_at(now), self._ended, run))
        return True

    def _ended(self, run: Run) -> None:
        now, local = self.board.now(), self.cluster.clock()
        playback = self._times(run, now) if run.kind is Kind.TONE else self._playback(run, now)
        self._forget(run)
        self.board.tally.done += 1
        if run.kind is Kind.TONE:
            amp_ok = self.cluster.amp_ok
            self.outbox.truth("tone", run.cmd_id, None, **playback, amp_ok=amp_ok)
            self.outbox.event(run.cmd_id, EventState.DONE, None, {"ended_at": stamp(local), "amp_ok": amp_ok})
        else:
            self.outbox.truth("played", run.cmd_id, run.run_id, **playback)
            self.outbox.event(run.cmd_id, EventState.DONE, run.run_id, {"ended_at": stamp(local)})
        self._arbitrate()

    def _interrupt(self, run: Run, state: EventState, by: str, **extra) -> None:
        """End a run early (preempted or cancelled) and report it against the run's own command."""
        now = self.board.now()
        was_playing = run.phase is Phase.PLAYING
        playback = self._playback(run, now) if was_playing else {}
        self._forget(run)
        detail = {"by": by, **extra}
        if was_playing:
            detail["ended_at"] = stamp(self.cluster.clock())
            self.outbox.truth(state.value, run.cmd_id, run.run_id, by=by, **playback, **extra)
        if state is EventState.PREEMPTED:
            self.board.tally.preempted += 1
        else:
            self.board.tally.cancelled += 1
        self.outbox.event(run.cmd_id, state, run.run_id, detail)

    def _fail(self, run: Run, reason: str, message: str) -> None:
        self._forget(run)
        self.board.tally.failed += 1
        self.outbox.event(run.cmd_id, EventState.FAILED, run.run_id, {"reason": reason, "message": message})

    def _missed_grace(self, run: Run) -> bool:
        """Tell whether a run can no longer start: a clip past its grace, a relay past its window."""
        now = self.cluster.clock()
        if run.kind is Kind.RELAY:
            return now >= run.end_at  # a live stream can be joined mid-way, at any priority
        return run.priority is not Priority.EMERGENCY and now > run.start_at + GRACE_S

    def _window_closed(self, run: Run) -> None:
        """Drop a relay whose window ended before the speakers were free: it never sounded, so it is late."""
        if self._runs.get(run.key) is run and run.phase is not Phase.PLAYING:
            self._forget(run)
            self._late(run)

    def _late(self, run: Run) -> None:
        self.board.tally.late += 1
        detail = {"start_at": stamp(run.start_at)}
        if run.kind is Kind.RELAY:
            detail["end_at"] = stamp(run.end_at)
        self.outbox.event(run.cmd_id, EventState.LATE, run.run_id, detail)

    # ----- bookkeeping

    def _at_clock(self, local: float, callback, *args):
        """Call back when the cluster's clock reads `local` (true time if no clock fault acts)."""
        return self.board.timers.call_at(self.cluster.condition.true_time(local), callback, *args)

    def _playing_first(self) -> list[Run]:
        """Return the runs held, the one sounding first, the others in arrival order."""
        return sorted(self._runs.values(), key=lambda r: (r.phase is not Phase.PLAYING, r.order))

    def _forget(self, run: Run) -> None:
        run.set_timer(None)
        self._clock_starts.pop(run, None)
        if self._runs.get(run.key) is run:
            del self._runs[run.key]
        if run in self._waiting:
            self._waiting.remove(run)
        if self._playing is run:
            self._playing = None
            self.board.tally.playing -= 1

    def _next_arrival(self) -> int:
        self._arrivals += 1
        return self._arrivals

    def _playback(self, run: Run, ended: float) -> dict:
        """Describe what sounded, for the truth log: the clip's sha256, or the relay's stream and window."""
        source = {"sha256": run.sha256}
        if run.kind is Kind.RELAY:
            source = {"stream_url": run.stream_url, "end_at": stamp(run.end_at)}
        return {
            "kind": run.kind.value,
            **source,
            "priority": run.priority.value,
            "volume": run.volume if run.volume is not None else self.cluster.volume,
            "start_at": stamp(run.start_at),
            **self._times(run, ended),
        }

    def _times(self, run: Run, ended: float) -> dict:
        """Return when sound started and ended in true time, and, if the cluster's clock was off, by that clock.

        `started_at`/`ended_at` are what happened; `clock_started_at`/`clock_ended_at` are what the
        cluster's clock read then, which is what its `playing` and `done` events said.
        """
        condition = self.cluster.condition
        times = {"started_at": stamp(run.started_at), "ended_at": stamp(ended)}
        if run in self._clock_starts or condition.clock_off:
            clock_start = self._clock_starts.get(run, run.started_at)
            times.update(clock_started_at=stamp(clock_start), clock_ended_at=stamp(condition.local_time(ended)))
        return times
