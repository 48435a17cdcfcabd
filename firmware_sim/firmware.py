"""The cluster firmware as a plain state machine: commands and timers in, events and truth out.

It knows nothing of MQTT or threads. A session feeds it command payloads and
publishes what it sends through its `Uplink`; everything that happens later
goes through the board's timer heap, so tests drive it with a fake clock.
True time is `board.now()`, and what it publishes or writes to the truth log goes
through `board.afterwards`: clusters due at the same moment all start then, and
publish once they all have (see `Timers`).

Its faults are in its `condition` (firmware_sim.faults): its own clock (`clock()`),
which starts runs and stamps events while the truth log keeps true times, a hung
application (`silent`), dead hardware, failing downloads; `power_off`/`power_on`
model a power cut or a crash.
"""

import hashlib
import json
import logging
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Protocol

from firmware_sim.faults.condition import Condition
from firmware_sim.faults.downloads import fetch_audio
from firmware_sim.media import FetchOutcome
from firmware_sim.relay import check_relay, relay_run
from firmware_sim.roster import ClusterSpec
from firmware_sim.runs import Kind, Phase, Run
from firmware_sim.seen import KEEP_AFTER_EXPIRY_S, SeenCommands
from firmware_sim.sensors import Sensors
from firmware_sim.signature import check_signature
from firmware_sim.tally import Tally
from firmware_sim.timers import Timer, Timers
from pa_controller.domain import CommandType, EventState, Priority
from pa_controller.messaging import protocol

log = logging.getLogger(__name__)

FW_VERSION = "loanet-sim/0.1.0"
GRACE_S = 2.0  # PROTOCOL.md rule 3
REBOOT_DELAY_S = 0.2  # lets the `received` of a reboot leave before the connection drops
DEFAULT_VOLUME = 70


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
    """What every simulated cluster shares: clock, timers, fetcher, truth log, randomness, counters."""

    clock: Callable[[], float]
    timers: Timers
    audio: AudioSource
    truth: TruthSink
    rng: random.Random = field(default_factory=random.Random)
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


class Firmware:
    """Run one cluster: validate commands, fetch and arm clips, tune relays, drive the speakers, report every step."""

    def __init__(self, spec: ClusterSpec, uplink: Uplink, board: Board, seen: SeenCommands | None = None,
                 condition: Condition | None = None):
        self.spec = spec
        self.cid = spec.cid
        self.uplink = uplink
        self.board = board
        self.seen = seen if seen is not None else SeenCommands()
        self.condition = condition if condition is not None else Condition()
        self.sensors = Sensors(board.rng)
        self.volume = DEFAULT_VOLUME
        self.unreadable = 0
        self._runs: dict[str, Run] = {}
        self._waiting: list[Run] = []
        self._playing: Run | None = None
        self._verified: set[str] = set()
        self._arrivals = 0
        self._heartbeat: Timer | None = None
        self._reboot: Timer | None = None
        self._clock_starts: dict[Run, float] = {}  # what the cluster's clock read when a run started, if off
        self._lost_run_ids: list[str] = []  # runs a power cut or crash wiped from memory
        self.boot()

    # ----- identity and telemetry

    def boot(self) -> None:
        """Start a new boot: fresh boot_id, uptime and heartbeat sequence."""
        self.boot_id = uuid.uuid4().hex
        self.booted_at = self.board.now()  # uptime is a monotonic count, untouched by clock faults
        self.seq = 0

    def clock(self) -> float:
        """Return what this cluster's clock reads now: true time unless a clock fault moved it."""
        return self.condition.local_time(self.board.now())

    def _true(self, local: float) -> float:
        """Return the true time at which this cluster's clock will read `local` (for its timers)."""
        return self.condition.true_time(local)

    @property
    def amp_ok(self) -> bool:
        """Tell whether amplifier current is sensed: no dead amplifier, by spec or by fault."""
        return self.spec.amp_ok and not self.condition.dead_amplifier

    @property
    def speakers_ok(self) -> int:
        return max(0, self.spec.working_speakers - self.condition.dead_speakers)

    @property
    def state(self) -> str:
        """Return the heartbeat state: playing, armed or idle."""
        if self._playing is not None:
            return "playing"
        return "armed" if self.armed_run_ids else "idle"

    @property
    def playing_run_id(self) -> str | None:
        return self._playing.run_id if self._playing is not None else None

    @property
    def armed_run_ids(self) -> list[str]:
        """Return the run ids verified and waiting to play, in arrival order."""
        ready = (Phase.ARMED, Phase.WAITING)
        return [r.run_id for r in self._runs.values() if r.phase in ready and r.run_id is not None]

    def status(self, online: bool) -> dict:
        """Return the Status payload (the will uses online=False)."""
        return {
            "v": protocol.VERSION,
            "cid": self.cid,
            "online": online,
            "boot_id": self.boot_id,
            "fw": self.board.fw,
            "at": stamp(self.clock()),
        }

    def heartbeat(self) -> dict:
        """Return the next Heartbeat payload, advancing `seq`."""
        now = self.board.now()
        self.seq += 1
        rssi_dbm, temp_c = self.sensors.read(self._playing is not None)
        return {
            "v": protocol.VERSION,
            "cid": self.cid,
            "at": stamp(self.condition.local_time(now)),
            "boot_id": self.boot_id,
            "seq": self.seq,
            "uptime_s": int(now - self.booted_at),
            "state": self.state,
            "playing": self.playing_run_id,
            "armed": self.armed_run_ids,
            "volume": self.volume,
            "rssi_dbm": rssi_dbm,
            "temp_c": temp_c,
            "speakers_ok": self.speakers_ok,
            "speakers_total": self.spec.speakers,
            "amp_ok": self.amp_ok,
            "fw": self.board.fw,
        }

    def start_heartbeat(self) -> None:
        """Send heartbeats every heartbeat_s, the first at a random offset so a fleet does not beat at once."""
        if self._heartbeat is None:
            first = self.board.rng.uniform(0, self.board.heartbeat_s)
            self._heartbeat = self.board.timers.call_at(self.board.now() + first, self._beat)

    def halt(self) -> None:
        """Cancel every pending timer: the process is going away."""
        if self._heartbeat is not None:
            self._heartbeat.cancel()
        for run in self._runs.values():
            run.set_timer(None)

    def _beat(self) -> None:
        self._heartbeat = self.board.timers.call_at(self.board.now() + self.board.heartbeat_s, self._beat)
        if not self.condition.silent:  # a hung application beats no more, though its link is up
            self.board.afterwards(self.uplink.send, protocol.HEARTBEAT, self.heartbeat())

    # ----- power and clock faults

    def power_off(self) -> None:
        """Lose power (or crash): memory is gone, so runs vanish without an event; a run sounding stops.

        What the disk holds stays: the accepted command ids (`seen`) and the verified audio. The run
        that was sounding leaves an `interrupted` truth line; the others are listed as lost in the
        `rebooted` line of power_on.
        """
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            self._heartbeat = None
        if self._reboot is not None:
            self._reboot.cancel()
            self._reboot = None
        now = self.board.now()
        for run in sorted(self._runs.values(), key=lambda r: r.order):
            if run.phase is Phase.PLAYING:
                self._truth("interrupted", run.cmd_id, run.run_id, **self._playback(run, now))
            elif run.run_id is not None:
                self._lost_run_ids.append(run.run_id)
            self._forget(run)

    def power_on(self, cause: str) -> None:
        """Boot again after power_off with a new boot_id; the truth says why and which runs were lost."""
        previous = self.boot_id
        self.boot()
        lost, self._lost_run_ids = self._lost_run_ids, []
        self._truth("rebooted", None, None, previous_boot_id=previous, boot_id=self.boot_id, cause=cause,
                    lost_run_ids=lost)

    def clock_changed(self) -> None:
        """Re-time what waits for the cluster's clock: runs armed for start_at and fetches facing their grace."""
        for run in list(self._runs.values()):
            if run.phase is Phase.ARMED:
                if self.clock() >= run.start_at:
                    self._due(run)
                else:
                    run.set_timer(self.board.timers.call_at(self._true(run.start_at), self._due, run))
            elif run.phase is Phase.FETCHING and run.timer is not None:
                run.set_timer(self.board.timers.call_at(self._true(run.start_at + GRACE_S), self._deadline_passed,
                                                        run))

    # ----- command intake

    def handle_command(self, raw: bytes) -> None:
        """Validate one command payload and act on it; every outcome is an event or a count, never a raise."""
        try:
            command = protocol.decode(protocol.CMD, self.cid, raw)
            _check_values(command)
        except protocol.ProtocolError as exc:
            self._reject_undecodable(raw, exc)
            return
        cmd_id, run_id = command["id"], command.get("run_id")
        ctype = CommandType(command["type"])
        if self.condition.silent:
            self.board.tally.ignored += 1
            log.info("%s is silent and ignores command %s", self.cid, cmd_id)
            return
        refusal = check_signature(command)
        if refusal is not None:
            self._reject(cmd_id, run_id, refusal, "the command's signature does not verify")
            return
        digest = hashlib.sha256(protocol.canonical(command)).hexdigest()
        known = self.seen.digest_of(cmd_id)
        if known == digest:
            self.board.tally.duplicates += 1
            self._emit(cmd_id, EventState.RECEIVED, run_id, {"duplicate": True})
            return
        if known is not None:
            self._reject(cmd_id, run_id, "replay", "this command id was already used for a different command")
            return
        expires_at = epoch(command["expires_at"])
        if expires_at < self.clock():
            self.board.tally.expired += 1
            self._emit(cmd_id, EventState.EXPIRED, run_id, {"expires_at": command["expires_at"]})
            return
        self.seen.add(cmd_id, digest, keep_until=expires_at + KEEP_AFTER_EXPIRY_S, now=self.clock())
        self.board.tally.received += 1
        self._truth("received", cmd_id, run_id, type=ctype.value)
        self._emit(cmd_id, EventState.RECEIVED, run_id)
        self._HANDLERS[ctype](self, command)

    def _reject_undecodable(self, raw: bytes, error: protocol.ProtocolError) -> None:
        cmd_id, run_id = _readable_ids(raw)
        if cmd_id is None:
            self.unreadable += 1
            self.board.tally.unreadable += 1
            log.warning("%s dropped a command without a readable id: %s", self.cid, error)
            return
        self._reject(cmd_id, run_id, error.reason, str(error))

    def _reject(self, cmd_id: str, run_id: str | None, reason: str, message: str) -> None:
        self.board.tally.rejected += 1
        log.info("%s rejected command %s: %s (%s)", self.cid, cmd_id, reason, message)
        self._emit(cmd_id, EventState.REJECTED, run_id, {"reason": reason, "message": message})

    # ----- command types

    def _play(self, command: dict) -> None:
        audio = command["audio"]
        run = Run(
            cmd_id=command["id"],
            run_id=command["run_id"],
            kind=Kind.CLIP,
            priority=Priority(command["priority"]),
            start_at=epoch(command["start_at"]),
            duration_ms=command["duration_ms"],
            order=self._next_arrival(),
            sha256=audio["sha256"].lower(),
            volume=command.get("volume"),
        )
        if run.key in self._runs:
            log.info("%s already holds run %s; command %s adds nothing", self.cid, run.run_id, run.cmd_id)
            return
        if self._missed_grace(run):
            self._late(run)
            return
        self._runs[run.key] = run
        if run.sha256 in self._verified:
            self._arm(run)
            return
        if run.priority is not Priority.EMERGENCY:
            run.set_timer(self.board.timers.call_at(self._true(run.start_at + GRACE_S), self._deadline_passed, run))
        fetch_audio(self.condition, self.board, audio, partial(self._fetched, run))

    def _relay(self, command: dict) -> None:
        run = relay_run(command, self._next_arrival())
        if run.key in self._runs:
            log.info("%s already holds run %s; command %s adds nothing", self.cid, run.run_id, run.cmd_id)
            return
        if self._missed_grace(run):
            self._late(run)
            return
        self._runs[run.key] = run
        self._tune(run)

    def _cancel(self, command: dict) -> None:
        run = self._runs.get(command["run_id"])
        if run is None:
            log.info("%s has no run %s to cancel", self.cid, command["run_id"])
            return
        self._interrupt(run, EventState.CANCELLED, by=command["id"])
        self._arbitrate()

    def _stop(self, command: dict) -> None:
        ceiling = Priority(command.get("max_priority", Priority.EMERGENCY.value))
        victims = sorted(self._runs.values(), key=lambda r: (r.phase is not Phase.PLAYING, r.order))
        for run in victims:
            if run.priority.rank <= ceiling.rank:
                self._interrupt(run, EventState.CANCELLED, by=command["id"])
        self._arbitrate()

    def _set_volume(self, command: dict) -> None:
        self.volume = command["volume"]

    def _test_tone(self, command: dict) -> None:
        now = self.clock()
        run = Run(command["id"], None, Kind.TONE, Priority.NORMAL, now, command["duration_ms"], self._next_arrival())
        self._runs[run.key] = run
        self._due(run)

    def _reboot_command(self, command: dict) -> None:
        self._reboot = self.board.timers.call_at(self.board.now() + REBOOT_DELAY_S, self._restart, command["id"])

    _HANDLERS = {
        CommandType.PLAY: _play,
        CommandType.RELAY: _relay,
        CommandType.CANCEL: _cancel,
        CommandType.STOP: _stop,
        CommandType.SET_VOLUME: _set_volume,
        CommandType.TEST_TONE: _test_tone,
        CommandType.REBOOT: _reboot_command,
    }

    # ----- a run's way to the speakers

    def _fetched(self, run: Run, outcome: FetchOutcome) -> None:
        if outcome.ok:
            self._verified.add(run.sha256)
        if self._runs.get(run.key) is not run or run.phase is not Phase.FETCHING:
            return  # cancelled, stopped or reported late while the fetch ran
        if not outcome.ok:
            self._forget(run)
            self.board.tally.failed += 1
            detail = {"reason": outcome.reason, "message": outcome.message}
            self._emit(run.cmd_id, EventState.FAILED, run.run_id, detail)
            return
        self._arm(run)

    def _tune(self, run: Run) -> None:
        """Connect a relay to its stream: the simulator fetches nothing, so the stream is there at once.

        This is the seam for stream faults: a hook that fails the connection would report `failed`
        (reason `fetch`) here instead of arming the run.
        """
        self._arm(run)

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
        self._emit(run.cmd_id, EventState.READY, run.run_id)
        if self.clock() >= run.start_at:
            self._due(run)
        else:
            run.set_timer(self.board.timers.call_at(self._true(run.start_at), self._due, run))

    def _due(self, run: Run) -> None:
        run.set_timer(None)
        if run.kind is Kind.RELAY:
            # A relay queued behind another run must not outlive its window.
            run.set_timer(self.board.timers.call_at(self._true(run.end_at), self._window_closed, run))
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
        now, local = self.board.now(), self.clock()
        if run.kind is Kind.RELAY and local >= run.end_at:
            self._window_closed(run)
            return False
        if run.kind is not Kind.TONE and not self.amp_ok:
            self._forget(run)
            self.board.tally.failed += 1
            detail = {"reason": "amplifier", "message": "no amplifier current sensed"}
            self._emit(run.cmd_id, EventState.FAILED, run.run_id, detail)
            return False
        run.phase = Phase.PLAYING
        run.started_at = now
        if self.condition.clock_off:
            self._clock_starts[run] = local
        self._playing = run
        self.board.tally.playing += 1
        self._emit(run.cmd_id, EventState.PLAYING, run.run_id, {"started_at": stamp(local)})
        # A clip sounds for its length in true seconds; a relay's window closes by the cluster's clock.
        silent_at = self._true(run.end_at) if run.kind is Kind.RELAY else run.silent_at(now)
        run.set_timer(self.board.timers.call_at(silent_at, self._ended, run))
        return True

    def _ended(self, run: Run) -> None:
        now, local = self.board.now(), self.clock()
        playback = self._times(run, now) if run.kind is Kind.TONE else self._playback(run, now)
        self._forget(run)
        self.board.tally.done += 1
        if run.kind is Kind.TONE:
            self._truth("tone", run.cmd_id, None, **playback, amp_ok=self.amp_ok)
            self._emit(run.cmd_id, EventState.DONE, None, {"ended_at": stamp(local), "amp_ok": self.amp_ok})
        else:
            self._truth("played", run.cmd_id, run.run_id, **playback)
            self._emit(run.cmd_id, EventState.DONE, run.run_id, {"ended_at": stamp(local)})
        self._arbitrate()

    def _interrupt(self, run: Run, state: EventState, by: str, **extra) -> None:
        """End a run early (preempted or cancelled) and report it against the run's own command."""
        now = self.board.now()
        was_playing = run.phase is Phase.PLAYING
        playback = self._playback(run, now) if was_playing else {}
        self._forget(run)
        detail = {"by": by, **extra}
        if was_playing:
            detail["ended_at"] = stamp(self.clock())
            self._truth(state.value, run.cmd_id, run.run_id, by=by, **playback, **extra)
        if state is EventState.PREEMPTED:
            self.board.tally.preempted += 1
        else:
            self.board.tally.cancelled += 1
        self._emit(run.cmd_id, state, run.run_id, detail)

    def _restart(self, cmd_id: str) -> None:
        victims = sorted(self._runs.values(), key=lambda r: (r.phase is not Phase.PLAYING, r.order))
        for run in victims:
            self._interrupt(run, EventState.CANCELLED, by=cmd_id, reason="reboot")
        self._reboot = None
        previous = self.boot_id
        self.board.afterwards(self.uplink.restart)  # after the cancelled events, as before
        self.boot()
        self._truth("rebooted", cmd_id, None, previous_boot_id=previous, boot_id=self.boot_id, cause="command",
                    lost_run_ids=[])

    # ----- bookkeeping

    def _missed_grace(self, run: Run) -> bool:
        """Tell whether a run can no longer start: a clip past its grace, a relay past its window."""
        now = self.clock()
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
        self._emit(run.cmd_id, EventState.LATE, run.run_id, detail)

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
            "volume": run.volume if run.volume is not None else self.volume,
            "start_at": stamp(run.start_at),
            **self._times(run, ended),
        }

    def _times(self, run: Run, ended: float) -> dict:
        """Return when sound started and ended in true time, and, if the cluster's clock was off, by that clock.

        `started_at`/`ended_at` are what happened; `clock_started_at`/`clock_ended_at` are what the
        cluster's clock read then, which is what its `playing` and `done` events said.
        """
        times = {"started_at": stamp(run.started_at), "ended_at": stamp(ended)}
        if run in self._clock_starts or self.condition.clock_off:
            clock_start = self._clock_starts.get(run, run.started_at)
            times.update(clock_started_at=stamp(clock_start), clock_ended_at=stamp(self.condition.local_time(ended)))
        return times

    def _truth(self, event: str, cmd_id: str, run_id: str | None, **fields) -> None:
        record = {"cid": self.cid, "run_id": run_id, "cmd_id": cmd_id, "event": event, "at": stamp(self.board.now())}
        self.board.afterwards(self.board.truth.write, {**record, **fields})

    def _emit(self, cmd_id: str, state: EventState, run_id: str | None = None, detail: dict | None = None) -> None:
        payload = {"v": protocol.VERSION, "cid": self.cid, "cmd_id": cmd_id}
        if run_id is not None:
            payload["run_id"] = run_id
        payload["state"] = state.value
        payload["at"] = stamp(self.clock())
        if detail:
            payload["detail"] = detail
        self.board.afterwards(self.uplink.send, protocol.EVENTS, payload)


def _check_values(command: dict) -> None:
    """Refuse values the codec lets through but no cluster can act on."""
    if command["type"] == CommandType.RELAY:
        check_relay(command)
    if "duration_ms" in command and command["duration_ms"] <= 0:
        raise protocol.ProtocolError("malformed", "duration_ms must be positive")
    audio = command.get("audio")
    if isinstance(audio, dict) and audio["bytes"] <= 0:
        raise protocol.ProtocolError("malformed", "audio.bytes must be positive")


def _readable_ids(raw: bytes) -> tuple[str | None, str | None]:
    """Return (id, run_id) of a payload that failed validation, where they can still be read."""
    try:
        payload = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        return None, None
    if not isinstance(payload, dict):
        return None, None
    cmd_id, run_id = payload.get("id"), payload.get("run_id")
    return (cmd_id if isinstance(cmd_id, str) and cmd_id else None), (run_id if isinstance(run_id, str) else None)
