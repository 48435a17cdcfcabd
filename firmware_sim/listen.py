"""`python -m firmware_sim listen`: one simulated cluster on a technician's bench, showing all it exchanges.

It runs the real firmware (a Fleet of one cluster) and, beside it, a second MQTT client subscribed to
that cluster's own topics, which prints every command that reaches the cluster and every status,
heartbeat and event it sends, one line each, as they pass the broker. Watching from outside needs no
hook in the firmware, and shows what the controller sees, including the will the broker publishes for
the cluster. Stop any other simulator that runs the same cluster first: two sessions with one client id
keep taking the session over from each other.

Every message shows as a line, whatever its payload: one the summaries cannot read shows raw (cut to
SHOWN_BYTES) with a note saying why. On a broker that wants logins, the cluster logs in as
`python -m firmware_sim --credentials` makes it (username = its cid, its password from a `cid,password`
CSV), and the watcher with `--username`/`--password`: an account that may read `{root}/clusters/{cid}/#`.
Both default to what `make run` leaves in its instance dir: the clusters' passwords and the read-only
`loanet.monitor` account's.
A broker that refuses the watcher's login or subscription stops listen with exit code 2 and the reason.
"""

import argparse
import json
import logging
import signal
import sys
import threading
import uuid
from datetime import UTC, datetime
from typing import TextIO

import paho.mqtt.client as mqtt

import pa_protocol as protocol
from firmware_sim import defaults
from firmware_sim.cli import add_broker_option, add_keys_options, add_truth_option, keys_of
from firmware_sim.fleet import Fleet
from firmware_sim.keyring import KeysError
from firmware_sim.localtime import LOCAL_DAY_FORMAT, local_clock, local_time
from firmware_sim.roster import DEFAULT_FLEET_CSV, ClusterSpec, RosterError, load_credentials, load_csv
from firmware_sim.session import BrokerURLError, SessionSettings

log = logging.getLogger("firmware_sim.listen")

DEFAULT_SPEAKERS = 2
SUBSCRIBE_TIMEOUT_S = 5.0
WILL_WAIT_S = 1.0  # after stopping, how long to wait for the broker's will to show
SHORT_ID = 8
SHOWN_BYTES = 120  # of a payload no summary knows
INTO_CLUSTER, OUT_OF_CLUSTER = "←", "→"


def _wire_clock(text) -> str:
    try:
        return local_clock(protocol.parse_time(text))
    except ValueError:
        return repr(text)


def _short(identifier) -> str:
    return str(identifier)[:SHORT_ID]


# ----- one line per message


def describe_command(command: dict) -> str:
    """Summarise a command: its type, short id, and the fields that say what it asks."""
    ctype = command.get("type", "?")
    words = [str(ctype), _short(command.get("id", "?"))]
    if "run_id" in command:
        words.append(f"run {command['run_id']}")
    if ctype in ("play", "relay"):
        words.append(str(command.get("priority", "?")))
        words.append(f"start {_wire_clock(command.get('start_at'))}")
    if ctype == "play":
        words.append(f"{command.get('duration_ms', 0) / 1000:.1f} s")
        words.append(f"sha256 {_short((command.get('audio') or {}).get('sha256', '?'))}")
    elif ctype == "relay":
        words.append(f"until {_wire_clock(command.get('end_at'))} {command.get('stream_url', '?')}")
    elif ctype == "stop" and "max_priority" in command:
        words.append(f"up to {command['max_priority']}")
    elif ctype == "set_volume":
        words.append(f"volume {command.get('volume')}")
    elif ctype == "test_tone":
        words.append(f"{command.get('duration_ms', 0) / 1000:.1f} s")
    if "volume" in command and ctype != "set_volume":
        words.append(f"volume {command['volume']}")
    if "title" in command:
        words.append(f"“{command['title']}”")
    return " ".join(words)


def describe_event(event: dict) -> str:
    """Summarise an event: its state, the command and run it answers, and its detail."""
    words = [str(event.get("state", "?")), f"cmd {_short(event.get('cmd_id', '?'))}"]
    if "run_id" in event:
        words.append(f"run {event['run_id']}")
    for name, value in (event.get("detail") or {}).items():
        shown = _wire_clock(value) if name.endswith("_at") else value
        words.append(f"{name} {shown}")
    return " ".join(words)


def describe_heartbeat(beat: dict) -> str:
    """Summarise a heartbeat: sequence, state, what plays or waits, and the health readings."""
    words = [f"#{beat.get('seq')}", str(beat.get("state"))]
    if beat.get("playing"):
        words.append(f"run {beat['playing']}")
    if beat.get("armed"):
        words.append("armed " + ",".join(map(str, beat["armed"])))
    words += [
        f"volume {beat.get('volume')}",
        f"rssi {beat.get('rssi_dbm')} dBm",
        f"{beat.get('temp_c')} °C",
        f"speakers {beat.get('speakers_ok')}/{beat.get('speakers_total')}",
        "amp ok" if beat.get("amp_ok") else "AMP FAULT",
        f"up {beat.get('uptime_s')} s",
    ]
    return " ".join(words)


def describe_status(status: dict) -> str:
    """Summarise a status: online or offline, boot and firmware."""
    state = "online" if status.get("online") else "offline"
    return f"{state} boot {_short(status.get('boot_id', '?'))} fw {status.get('fw', '?')}"


DESCRIBE = {
    protocol.CMD: describe_command,
    protocol.EVENTS: describe_event,
    protocol.HEARTBEAT: describe_heartbeat,
    protocol.STATUS: describe_status,
}


def render(topic: str, raw: bytes, retained: bool, arrived: datetime, as_json: bool = False) -> str:
    """Render one message as `line` or `json_line` does, or, when its payload defeats them, raw with a note."""
    kind = topic.rsplit("/", 1)[-1]
    try:
        return json_line(topic, raw, retained, arrived) if as_json else line(kind, raw, retained, arrived)
    except Exception as exc:  # any payload at all must show, and an exception would end paho's loop thread
        log.debug("cannot summarise a message on %s", topic, exc_info=True)
        note = f"{type(exc).__name__}: {exc}"
        if as_json:
            record = {"at": protocol.format_time(arrived), "topic": topic, "retained": retained,
                      "payload": raw[:SHOWN_BYTES].decode("utf-8", errors="replace"), "unreadable": note}  # fmt: skip
            return json.dumps(record, ensure_ascii=False)
        cut = f" (first {SHOWN_BYTES} of {len(raw)} bytes)" if len(raw) > SHOWN_BYTES else ""
        summary = f"{raw[:SHOWN_BYTES]!r}{cut} [cannot summarise it: {note}]"
        return _framed(kind, summary, retained, arrived)


def line(kind: str, raw: bytes, retained: bool, arrived: datetime) -> str:
    """Render one message for people: local time, direction, channel and a summary of the payload."""
    try:
        payload = json.loads(raw)
    except ValueError:
        payload = None
    if isinstance(payload, dict) and kind in DESCRIBE:
        summary = DESCRIBE[kind](payload)
    elif payload is not None:
        summary = json.dumps(payload, ensure_ascii=False)[:SHOWN_BYTES]
    else:
        summary = f"{len(raw)} bytes that are not JSON: {raw[:SHOWN_BYTES]!r}"
    return _framed(kind, summary, retained, arrived)


def _framed(kind: str, summary: str, retained: bool, arrived: datetime) -> str:
    arrow = INTO_CLUSTER if kind == protocol.CMD else OUT_OF_CLUSTER
    if retained:
        summary += " (retained, from before)"
    return f"{local_clock(arrived)} {arrow} {kind:<9} {summary}"


def json_line(topic: str, raw: bytes, retained: bool, arrived: datetime) -> str:
    """Render one message as a JSON object: arrival time (UTC), topic, retained flag and the payload."""
    try:
        payload = json.loads(raw)
    except ValueError:
        payload = raw.decode("utf-8", errors="replace")
    record = {"at": protocol.format_time(arrived), "topic": topic, "retained": retained, "payload": payload}
    return json.dumps(record, ensure_ascii=False)


# ----- watching the broker


class WatchError(Exception):
    """The watcher cannot show a cluster's traffic; the message says what to check."""

    def __init__(self, cid: str, message: str):
        super().__init__(message)
        self.cid = cid


class BrokerUnreachable(WatchError):
    """The broker could not be reached at all."""


class BrokerRefused(WatchError):
    """The broker refused the watcher's login or its subscription to the cluster's topics."""


class Watcher:
    """A second MQTT client that writes every message on one cluster's topics to `out`.

    It logs in as `username` when given one. A refusal, of the login or of the subscription, sets
    `refused` and `refusal` (the message for people), whether it comes at the start or on a reconnect.
    """

    def __init__(self, settings: SessionSettings, cid: str, out: TextIO, as_json: bool = False,
                 username: str | None = None, password: str | None = None):  # fmt: skip
        self.settings = settings
        self.cid = cid
        self.out = out
        self.as_json = as_json
        self.filter = protocol.topic(settings.root, cid, "#")
        self.offline_seen = threading.Event()
        self.refused = threading.Event()
        self.refusal: BrokerRefused | None = None
        self._answered = threading.Event()  # a SUBACK, or a refused CONNACK
        self._lock = threading.Lock()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"listen-{cid}-{uuid.uuid4().hex[:6]}", protocol=mqtt.MQTTv5
        )
        if username is not None:
            self.client.username_pw_set(username, password)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message

    @property
    def _where(self) -> str:
        return f"the broker at {self.settings.host}:{self.settings.port}"

    def start(self) -> "Watcher":
        """Connect and subscribe; raise BrokerUnreachable or BrokerRefused if that fails within SUBSCRIBE_TIMEOUT_S."""
        try:
            self.client.connect(self.settings.host, self.settings.port, keepalive=self.settings.keepalive)
        except OSError as exc:
            raise BrokerUnreachable(self.cid, f"cannot reach {self._where} ({exc}): check --broker") from exc
        self.client.loop_start()
        answered = self._answered.wait(SUBSCRIBE_TIMEOUT_S)
        if self.refusal is not None or not answered:
            self.stop()
            raise self.refusal or BrokerUnreachable(
                self.cid,
                f"{self._where} did not answer our subscription to {self.filter} within "
                f"{SUBSCRIBE_TIMEOUT_S:.0f} s: check --broker",
            )
        return self

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            self._refuse(f"{self._where} refused the watcher's login ({reason_code}): pass --username and "
                         "--password of an account the broker knows")  # fmt: skip
            return
        client.subscribe(self.filter, qos=1)

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        refused = [code for code in reason_codes if code.is_failure]
        if refused:
            self._refuse(f"{self._where} refused the subscription to {self.filter} ({refused[0]}): pass "
                         f"--username and --password of an account that may read {self.filter}")  # fmt: skip
        self._answered.set()

    def _refuse(self, message: str) -> None:
        self.refusal = BrokerRefused(self.cid, message)
        self.refused.set()
        self._answered.set()
        self.client.disconnect()  # or paho would keep logging in again, to be refused again

    def _on_message(self, client, userdata, message) -> None:
        arrived = datetime.now(UTC)
        retained = bool(message.retain)
        text = render(message.topic, message.payload, retained, arrived, self.as_json)
        with self._lock:
            self.out.write(text + "\n")
            self.out.flush()  # a pipe would hold the lines back otherwise
        if message.topic.rsplit("/", 1)[-1] == protocol.STATUS:
            self._note_status(message.payload, retained)

    def _note_status(self, raw: bytes, retained: bool) -> None:
        try:
            online = json.loads(raw).get("online")
        except (ValueError, AttributeError):
            return
        if retained and online:
            log.warning(
                "the broker already holds %s as online: if another simulator or a real cluster runs it, "
                "the two sessions will keep taking over from each other; stop the other one first",
                self.cid,
            )
        if online is False and not retained:
            self.offline_seen.set()


# ----- the command line


def build_parser() -> argparse.ArgumentParser:
    """Describe `python -m firmware_sim listen`."""
    parser = argparse.ArgumentParser(
        prog="python -m firmware_sim listen",
        description="Run one simulated cluster and print every command it receives and every status, "
        "heartbeat and event it sends (times in Asia/Ho_Chi_Minh), until Ctrl-C.",
    )
    parser.add_argument("--cid", required=True, help="the cluster id, e.g. om-tho-001")
    add_broker_option(parser)
    parser.add_argument("--heartbeat-s", type=float, default=30.0, help="heartbeat period (%(default)s)")
    parser.add_argument("--root", default=protocol.DEFAULT_ROOT, help="topic root (%(default)s)")
    parser.add_argument("--fleet-csv", default=str(DEFAULT_FLEET_CSV), help="where to look up the cluster's speakers")
    add_truth_option(parser)
    add_keys_options(parser)
    parser.add_argument("--json", action="store_true", help="print each message raw, as one JSON object a line")
    login = parser.add_argument_group("a broker that wants logins")
    login.add_argument(
        "--credentials",
        metavar="CSV",
        default=defaults.credentials_file(),
        help="the cluster's password, from rows of cid,password (as "
        "`python -m firmware_sim --credentials`); the cluster logs in with username = its cid (default "
        f"{defaults.credentials_path()} if it exists; {defaults.INSTANCE_SOURCE})",
    )
    login.add_argument(
        "--username",
        help=f"the watcher's own login: an account that may read {protocol.topic(protocol.DEFAULT_ROOT, 'CID', '#')} "
        f"(default make run's read-only {defaults.MONITOR_USERNAME}, its password in {defaults.monitor_secret_path()})",
    )
    login.add_argument("--password", help="the password of --username")
    parser.add_argument("-v", "--verbose", action="store_true", help="log the simulator's own messages too")
    return parser


def bench_cluster(cid: str, fleet_csv: str) -> ClusterSpec:
    """Return the cluster as the fleet CSV describes it, or one with DEFAULT_SPEAKERS if it is not there."""
    try:
        known = {spec.cid: spec for spec in load_csv(fleet_csv)}
    except RosterError as exc:
        log.warning("%s; %s gets %d speakers", exc, cid, DEFAULT_SPEAKERS)
        known = {}
    return known.get(cid) or ClusterSpec(cid, speakers=DEFAULT_SPEAKERS)


def main(argv: list[str] | None = None, out: TextIO | None = None) -> int:
    """Run one cluster and show its traffic until Ctrl-C or SIGTERM; return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.heartbeat_s <= 0:
        parser.error("--heartbeat-s must be positive")
    if args.password is not None and args.username is None:
        parser.error("--password needs --username")
    if args.username is None and (monitor := defaults.monitor_login()) is not None:
        args.username, args.password = monitor
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",  # no time: the host's zone would clash with the lines
        stream=sys.stderr,
    )
    try:
        settings = SessionSettings.from_url(args.broker, root=args.root)
        spec = bench_cluster(args.cid, args.fleet_csv)
        credentials = load_credentials(args.credentials) if args.credentials else {}
        keys = keys_of(args)
    except (BrokerURLError, RosterError, KeysError) as exc:
        parser.error(str(exc))
    if args.credentials and spec.cid not in credentials:
        log.warning("%s has no password in %s: it logs in without one", spec.cid, args.credentials)
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    watcher = Watcher(settings, spec.cid, out or sys.stdout, as_json=args.json, username=args.username,
                      password=args.password)  # fmt: skip
    try:
        watcher.start()
    except WatchError as exc:
        _error(exc)
        return 2
    fleet = Fleet([spec], args.broker, truth_path=args.truth, heartbeat_s=args.heartbeat_s, root=args.root,
                  credentials=credentials, **keys)  # fmt: skip
    sys.stderr.write(
        f"{spec.cid} ({spec.speakers} speakers) on {args.broker}, times in Asia/Ho_Chi_Minh "
        f"({local_time(datetime.now(UTC), LOCAL_DAY_FORMAT)}); Ctrl-C to stop\n"
    )
    try:
        fleet.start()
        while not stopping.wait(0.5) and not watcher.refused.is_set():
            pass
    finally:
        fleet.stop()
        if not watcher.refused.is_set():
            watcher.offline_seen.wait(WILL_WAIT_S)  # let the will the broker publishes show as the last line
        watcher.stop()
    if watcher.refusal is not None:  # on a reconnect: nothing more would show
        _error(watcher.refusal)
        return 2
    return 0


def _error(exc: Exception) -> None:
    sys.stderr.write(f"python -m firmware_sim listen: error: {exc}\n")
