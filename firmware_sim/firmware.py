"""The cluster firmware as a plain state machine: commands and timers in, events and truth out.

It knows nothing of MQTT or threads. A session feeds it command payloads and publishes what it
sends through its `Uplink`; everything that happens later goes through the board's timer heap, so
tests drive it with a fake clock. True time is `board.now()`, and what it publishes or writes to
the truth log goes through `board.afterwards` (see `Timers`).

Here are the cluster's identity and telemetry, its command intake (decode, signature, seen id, floor,
expiry and mark: docs/protocol.md, "Replay rules") and its power; its runs are in player.py, the checks of a
payload in intake.py, the keys it trusts in keyring.py (on the board, shared by a process's clusters), the
commands held for the key list in key_wait.py.
Its faults are in its `condition`: its own clock (`clock()`), which starts runs and stamps events while
the truth log keeps true times, a hung application (`silent`), dead hardware, failing downloads;
`power_off`/`power_on` model a power cut or a crash.
"""

import logging
import uuid
from collections.abc import Callable

import pa_protocol as protocol
from firmware_sim.board import Board, Uplink, epoch, stamp
from firmware_sim.condition import Condition
from firmware_sim.dice import Dice
from firmware_sim.intake import content_digest, read_command, readable_ids
from firmware_sim.key_wait import KeyWait
from firmware_sim.outbox import Outbox
from firmware_sim.player import Player
from firmware_sim.roster import ClusterSpec
from firmware_sim.seen import SeenCommands
from firmware_sim.sensors import Sensors
from firmware_sim.timers import Timer
from pa_protocol import CommandType, EventState, HeartbeatState, Priority

log = logging.getLogger(__name__)

REBOOT_DELAY_S = 0.2  # lets the `received` of a reboot leave before the connection drops
DEFAULT_VOLUME = 70
BEHIND_SLACK_S = 1.0  # clocks on NTP agree to far less; below this, `issued_at` says nothing of this clock


def _nothing() -> None:
    pass


def out_of_date(mark: float) -> str:
    return f"a command issued at {stamp(mark)} was accepted already: this one is out of date"


class Firmware:
    """Run one cluster: take commands in, keep its identity and telemetry, survive reboots and power cuts."""

    def __init__(self, spec: ClusterSpec, uplink: Uplink, board: Board, seen: SeenCommands | None = None,
                 condition: Condition | None = None):
        self.spec = spec
        self.cid = spec.cid
        self.uplink = uplink
        self.board = board
        self.dice = Dice(board.seed, spec.cid)
        self.seen = seen if seen is not None else SeenCommands()
        self.condition = condition if condition is not None else Condition(self.dice)
        self.outbox = Outbox(spec.cid, uplink, board, self.clock)
        self.player = Player(self)
        self.sensors = Sensors(self.dice)
        self.volume = DEFAULT_VOLUME
        self.unreadable = 0
        self.queued = 0  # commands on their way in: in the link's delay queue, or held while the application hangs
        self.boots = 0
        self._accepting: dict[str, dict] = {}  # accepted, waiting for their id to be on disk
        self.key_wait = KeyWait(spec.cid, board, self._take)
        self._heartbeat: Timer | None = None
        self._reboot: Timer | None = None
        self._lost_run_ids: list[str] = []  # runs a power cut or crash wiped from memory
        self.boot()

    # ----- identity and telemetry

    def boot(self) -> None:
        """Start a new boot: fresh boot_id, uptime and heartbeat sequence; what memory held comes from the disk."""
        self.boots += 1
        self.boot_id = uuid.uuid4().hex  # not from the seed: a controller must never see a boot_id twice
        self.booted_at = self.board.now()  # uptime is a monotonic count, untouched by clock faults
        self.seq = 0
        self.conn = 0  # connections within this boot: orders a late will against the current birth
        self.seen.reload()
        self.key_wait.clear()  # memory is gone: what waited for the key list comes again from the broker

    def clock(self) -> float:
        """Return what this cluster's clock reads now: true time unless a clock fault moved it."""
        return self.condition.local_time(self.board.now())

    @property
    def amp_ok(self) -> bool:
        """Tell whether amplifier current is sensed: no dead amplifier, by spec or by fault."""
        return self.spec.amp_ok and not self.condition.dead_amplifier

    @property
    def speakers_ok(self) -> int:
        return max(0, self.spec.working_speakers - self.condition.dead_speakers)

    @property
    def state(self) -> HeartbeatState:
        """Return the heartbeat state: playing, armed or idle."""
        if self.player.sounding:
            return HeartbeatState.PLAYING
        return HeartbeatState.ARMED if self.armed_run_ids else HeartbeatState.IDLE

    @property
    def playing_run_id(self) -> str | None:
        return self.player.playing_run_id

    @property
    def armed_run_ids(self) -> list[str]:
        """Return the run ids verified and waiting to play, in arrival order."""
        return self.player.armed_run_ids

    @property
    def busy(self) -> bool:
        """Tell whether commands already sent may still change what this cluster does or reports.

        True while it holds a run (fetching, armed, waiting, playing), a command is on its way in (in
        the link's delay queue, held while the application hangs, waiting for the key list, or waiting
        for its id to reach the disk) or a reboot is due. Once no cluster is busy, the truth of what was
        sent is complete.
        """
        return (self.player.holds_runs or self.queued > 0 or bool(self._accepting) or bool(self.key_wait)
                or self._reboot is not None)

    def will(self) -> dict:
        """Count a new connection of this boot and return the will its CONNECT carries."""
        self.conn += 1
        return self.status(online=False)

    def status(self, online: bool) -> dict:
        """Return the Status payload of the current connection (the will uses online=False)."""
        return {
            "v": protocol.VERSION,
            "cid": self.cid,
            "online": online,
            "boot_id": self.boot_id,
            "conn": self.conn,
            "fw": self.board.fw,
            "at": stamp(self.clock()),
        }

    def heartbeat(self) -> dict:
        """Return the next Heartbeat payload, advancing `seq`."""
        now = self.board.now()
        self.seq += 1
        rssi_dbm, temp_c = self.sensors.read(self.player.sounding, self.boots, self.seq)
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
        """Send heartbeats every heartbeat_s, the first at an offset this cluster draws for this boot."""
        if self._heartbeat is None:
            first = self.dice.uniform(0, self.board.heartbeat_s, "heartbeat", self.boots)
            self._heartbeat = self.board.timers.call_at(self.board.now() + first, self._beat)

    def halt(self) -> None:
        """Cancel every pending timer: the process is going away."""
        for timer in (self._heartbeat, self._reboot):
            if timer is not None:
                timer.cancel()
        self.player.halt()

    def _beat(self) -> None:
        self._heartbeat = self.board.timers.call_at(self.board.now() + self.board.heartbeat_s, self._beat)
        if not self.condition.silent:  # a hung application beats no more, though its link is up
            self.board.afterwards(self.uplink.send, protocol.HEARTBEAT, self.heartbeat())

    # ----- command intake

    def handle_command(self, raw: bytes, handled: Callable[[], None] = _nothing) -> bool:
        """Take one command payload: every outcome is an event, a truth record or a count, never a raise.

        `handled()` runs once the command has been dealt with, and the session acknowledges it then:
        a command accepted once its id is on disk and it has been carried out, any other after the
        commands before it. An accepted `stop` silences at once, before its id is on disk; it is answered
        and acknowledged once it is. A hung application (`silent`) ignores the command: it returns False and
        never calls `handled`, so the command stays unacknowledged. A command signed by a key the cluster
        does not know yet waits, unacknowledged, for the key list to be fetched, and the commands after
        it wait behind it.
        """
        if self.condition.silent:
            self._ignore(raw)
            return False
        if self.key_wait:
            self.key_wait.queue(raw, handled)
        else:
            self._take(raw, handled, may_wait=True)
        return True

    def _take(self, raw: bytes, handled: Callable[[], None], may_wait: bool) -> None:
        """Check a command in the order of docs/protocol.md ("Replay rules") and carry out its outcome in turn."""
        try:
            command = read_command(self.cid, raw)
        except protocol.ProtocolError as exc:
            self._in_turn(handled, self._refuse_undecodable, raw, exc)
            return
        cmd_id, run_id = command["id"], command.get("run_id")
        refusal = self.board.keys.verify(command, self.clock())
        if refusal is not None and refusal.unknown_kid and may_wait and self.board.keys.fetchable:
            self.key_wait.hold(raw, handled)
            return
        if refusal is not None:
            self._in_turn(handled, self._reject, cmd_id, run_id, refusal.reason, refusal.message)
            return
        digest = content_digest(command)
        known = self.seen.digest_of(cmd_id)
        expires_at = epoch(command["expires_at"])
        mark = self.seen.mark
        if known == digest:
            self._in_turn(handled, self._duplicate, command)
        elif known is not None:
            self._in_turn(handled, self._reject, cmd_id, run_id, "replay",
                          "this command id was already used for a different command")
        elif self.seen.below_floor(expires_at):
            self._in_turn(handled, self._reject, cmd_id, run_id, "replay",
                          "this command expires no later than commands this cluster has forgotten: an old copy")
        elif expires_at < self.clock():
            self._in_turn(handled, self._expired, command, None)
        elif mark is not None and expires_at < mark:
            self._in_turn(handled, self._expired, command, out_of_date(mark))
        elif stale := self._would_start_stale(command, expires_at):
            self._in_turn(handled, self._expired, command, stale)
        else:
            self.seen.add(cmd_id, digest, expires_at, now=self.clock(), issued_at=epoch(command["issued_at"]))
            self._accepting[cmd_id] = command
            if command["type"] == CommandType.STOP.value:
                self._stop(command)  # silent now, not once the disk has its id: a stop run twice silences no more
            self._in_turn(handled, self._accept, command)

    def _in_turn(self, handled: Callable[[], None], outcome: Callable, *args) -> None:
        """Carry out `outcome(*args)`, then `handled()`, once the ids this cluster accepted so far are on disk.

        So outcomes keep the order their commands came in. A power cut before then drops them: the
        commands were not acknowledged, and the broker delivers them again.
        """
        boot = self.boots

        def settle() -> None:
            if self.boots == boot:
                outcome(*args)
                handled()

        self.seen.after_saved(settle)

    def _accept(self, command: dict) -> None:
        cmd_id, run_id = command["id"], command.get("run_id")
        del self._accepting[cmd_id]
        ctype = CommandType(command["type"])
        self.board.tally.received += 1
        when = {"start_at": command["start_at"]} if "start_at" in command else {}
        self.outbox.truth("received", cmd_id, run_id, type=ctype.value, **when)
        self.outbox.event(cmd_id, EventState.RECEIVED, run_id)
        self._HANDLERS[ctype](self, command)

    def _duplicate(self, command: dict) -> None:
        cmd_id, run_id = command["id"], command.get("run_id")
        self.board.tally.duplicates += 1
        self.outbox.truth("duplicate", cmd_id, run_id, type=command["type"])
        self.outbox.event(cmd_id, EventState.RECEIVED, run_id, {"duplicate": True})

    def _would_start_stale(self, command: dict, expires_at: float) -> str | None:
        """Say why a timed command would start only once expired, by what its own `issued_at` tells of this clock.

        The controller signed `issued_at`, so true time is at least that: a clock that reads earlier is behind
        by at least the difference, and reaches `start_at` that much late in true time. Minutes behind, it would
        sound a run whose window has closed. The difference is never used to start anything sooner: a controller
        clock ahead would make every cluster sound early.
        """
        if "start_at" not in command:
            return None
        behind = epoch(command["issued_at"]) - self.clock()
        if behind <= BEHIND_SLACK_S or epoch(command["start_at"]) + behind < expires_at:
            return None
        return (f"this cluster's clock reads {behind:.0f} s before the command was issued: it is that far behind, "
                f"and would start the run after it expired")

    def _expired(self, command: dict, message: str | None) -> None:
        """Answer `expired`: by this cluster's clock, or, with `message`, by what it knows of true time (the mark,
        or the command's own `issued_at`) whatever its clock reads."""
        cmd_id, run_id = command["id"], command.get("run_id")
        self.board.tally.expired += 1
        detail = {"expires_at": command["expires_at"]}
        if message is not None:
            detail["message"] = message
        self.outbox.truth("expired", cmd_id, run_id, type=command["type"], **detail)
        self.outbox.event(cmd_id, EventState.EXPIRED, run_id, detail)

    def _reject(self, cmd_id: str, run_id: str | None, reason: str, message: str) -> None:
        self.board.tally.rejected += 1
        log.info("%s rejected command %s: %s (%s)", self.cid, cmd_id, reason, message)
        self.outbox.truth("rejected", cmd_id, run_id, reason=reason)
        self.outbox.event(cmd_id, EventState.REJECTED, run_id, {"reason": reason, "message": message})

    def _refuse_undecodable(self, raw: bytes, error: protocol.ProtocolError) -> None:
        cmd_id, run_id = readable_ids(raw)
        if cmd_id is None:
            self.unreadable += 1
            self.board.tally.unreadable += 1
            log.warning("%s dropped a command without a readable id: %s", self.cid, error)
            return
        self._reject(cmd_id, run_id, error.reason, str(error))

    def _ignore(self, raw: bytes) -> None:
        cmd_id, run_id = readable_ids(raw)
        self.board.tally.ignored += 1
        log.info("%s is silent and ignores command %s", self.cid, cmd_id)
        self.outbox.truth("ignored", cmd_id, run_id, reason="silent")

    # ----- command types

    def _play(self, command: dict) -> None:
        self.player.play(command)

    def _relay(self, command: dict) -> None:
        self.player.relay(command)

    def _cancel(self, command: dict) -> None:
        self.player.cancel(command["run_id"], by=command["id"])

    def _stop(self, command: dict) -> None:
        """Silence what plays up to the stop's ceiling: at once when it is accepted, and again in its turn, for the
        runs of commands accepted before it whose ids were still on their way to disk."""
        ceiling = Priority(command.get("max_priority", Priority.EMERGENCY.value))
        self.player.stop(ceiling, by=command["id"])

    def _set_volume(self, command: dict) -> None:
        self.volume = command["volume"]
        self.outbox.event(command["id"], EventState.DONE, None, {"volume": self.volume})

    def _test_tone(self, command: dict) -> None:
        self.player.tone(command["id"], command["duration_ms"])

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

    # ----- reboots, power and the clock

    def _restart(self, cmd_id: str) -> None:
        """Reboot as the controller asked, once the commands accepted before it are on disk and carried out."""
        self._in_turn(_nothing, self._reboot_now, cmd_id)

    def _reboot_now(self, cmd_id: str) -> None:
        self._reboot = None
        self.player.cancel_all(by=cmd_id, reason="reboot")
        previous = self.boot_id
        self.board.afterwards(self.uplink.restart)  # after the cancelled events
        self.boot()
        self.outbox.truth("rebooted", cmd_id, None, previous_boot_id=previous, boot_id=self.boot_id, cause="command",
                          lost_run_ids=[])

    def power_off(self) -> None:
        """Lose power (or crash): memory is gone, so runs vanish without an event; a run sounding stops.

        What the disk holds stays: the accepted command ids (`seen`, less a write not yet begun) and
        the verified audio. The run that was sounding leaves an `interrupted` truth line; the others
        are listed as lost in the `rebooted` line of power_on.
        """
        for timer in (self._heartbeat, self._reboot):
            if timer is not None:
                timer.cancel()
        self._heartbeat = self._reboot = None
        self._accepting.clear()  # never carried out nor acknowledged: the broker delivers them again
        self.key_wait.clear()  # the same
        self.seen.power_lost()
        self._lost_run_ids.extend(self.player.lose_all())

    def power_on(self, cause: str) -> None:
        """Boot again after power_off with a new boot_id; the truth says why and which runs were lost."""
        previous = self.boot_id
        self.boot()
        lost, self._lost_run_ids = self._lost_run_ids, []
        self.outbox.truth("rebooted", None, None, previous_boot_id=previous, boot_id=self.boot_id, cause=cause,
                          lost_run_ids=lost)

    def clock_changed(self) -> None:
        """Re-time what waits for the cluster's clock (a clock fault started or ended)."""
        self.player.clock_changed()
