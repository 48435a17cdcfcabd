"""Builders and fakes: a firmware without a broker, and a controller stand-in on the wire."""

import json
import threading
import time
import uuid
from datetime import UTC, datetime
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

import pa_protocol as protocol
from firmware_sim.board import Board, stamp
from firmware_sim.faults import combine, plan_faults
from firmware_sim.faults.injector import FaultInjector
from firmware_sim.firmware import Firmware
from firmware_sim.keyring import CommandKeys
from firmware_sim.media import FetchOutcome
from firmware_sim.roster import ClusterSpec
from firmware_sim.session import SessionSettings
from firmware_sim.timers import Timers
from pa_protocol.signing import SigningKey, anchor_entry, endorse, sign_command

CID = "om-cvl-001"
T0 = datetime(2026, 11, 26, 15, 0, tzinfo=UTC).timestamp()
SHA = "ab" * 32
TEST_KEY = SigningKey.generate()  # the controller's key, as far as the simulator's tests go
TEST_KEYS = [anchor_entry(TEST_KEY)]  # its key list: the anchor alone


def successor_entry(key: SigningKey) -> dict:
    """Return the key list entry of `key` as the controller's next key after TEST_KEY: seq 2, endorsed by it."""
    return endorse(2, key.kid, key.public_key, TEST_KEY)


def signed(command: dict, key: SigningKey = TEST_KEY) -> dict:
    """Return the command signed (again) by `key`: what a test changed in a command breaks its old signature."""
    return sign_command(command, key)


def unsigned(command: dict) -> dict:
    """Return the command without `kid` and `sig`."""
    return {name: value for name, value in command.items() if name not in ("kid", "sig")}


class SimClock:
    """A clock that only moves when a test moves it."""

    def __init__(self, now: float = T0):
        self.now = now

    def __call__(self) -> float:
        return self.now


class FakeUplink:
    """Record what the firmware sends, checking every payload against the shared codec."""

    def __init__(self, cid: str):
        self.cid = cid
        self.sent: list[tuple[str, dict]] = []
        self.restarts = 0

    def send(self, kind: str, payload: dict) -> None:
        protocol.decode(kind, self.cid, protocol.encode(payload))
        self.sent.append((kind, payload))

    def restart(self) -> None:
        self.restarts += 1


class FakeAudio:
    """Hold fetches until the test settles them (or settle at once when `instant`)."""

    def __init__(self, instant: bool = False):
        self.instant = instant
        self.pending: list[tuple[dict, object]] = []
        self.requested: list[dict] = []

    def fetch(self, audio, done) -> None:
        self.requested.append(audio)
        if self.instant:
            done(FetchOutcome(True, duration_s=1.0))
        else:
            self.pending.append((audio, done))

    def settle(self, outcome: FetchOutcome = FetchOutcome(True, duration_s=1.0)) -> None:
        """Finish every pending fetch with `outcome`."""
        pending, self.pending = self.pending, []
        for _, done in pending:
            done(outcome)


class FakeLink:
    """A session as the fault injector sees it: records what happens to the link, passes power to the firmware."""

    def __init__(self, firmware: Firmware):
        self.firmware = firmware
        self.calls: list[tuple] = []

    def cut_link(self) -> None:
        self.calls.append(("cut",))

    def restore_link(self) -> None:
        self.calls.append(("restore",))

    def power_off(self, cause: str, quietly: bool) -> None:
        self.calls.append(("off", cause, quietly))
        self.firmware.power_off()

    def power_on(self, cause: str) -> None:
        self.calls.append(("on", cause))
        self.firmware.power_on(cause)

    def recover(self) -> None:
        self.calls.append(("recover",))


class ListTruth:
    def __init__(self):
        self.records: list[dict] = []

    def write(self, record: dict) -> None:
        self.records.append(record)

    def of(self, **match) -> list[dict]:
        return [r for r in self.records if all(r.get(k) == v for k, v in match.items())]


class Rig:
    """One firmware on a simulated clock with fake uplink, audio and truth."""

    def __init__(self, spec: ClusterSpec | None = None, instant_audio: bool = False, heartbeat_s: float = 30.0,
                 seed: int = 7):
        self.spec = spec or ClusterSpec(CID, speakers=3)
        self.clock = SimClock()
        self.timers = Timers()
        self.uplink = FakeUplink(self.spec.cid)
        self.audio = FakeAudio(instant=instant_audio)
        self.truth = ListTruth()
        self.board = Board(
            clock=self.clock,
            timers=self.timers,
            audio=self.audio,
            truth=self.truth,
            seed=seed,
            heartbeat_s=heartbeat_s,
            keys=CommandKeys(TEST_KEYS),
        )
        self.firmware = Firmware(self.spec, self.uplink, self.board)

    # ----- driving

    def advance(self, seconds: float) -> None:
        """Move the clock forward, running every timer at its own due time."""
        end = self.clock.now + seconds
        while (due := self.timers.next_due()) is not None and due <= end:
            self.clock.now = max(self.clock.now, due)
            self.timers.run_due(self.clock.now)
        self.clock.now = end

    def send(self, command: dict | bytes) -> dict | bytes:
        raw = command if isinstance(command, bytes) else protocol.encode(command)
        self.firmware.handle_command(raw)
        return command

    def command(self, ctype: str, **fields) -> dict:
        """Build a valid command of `ctype` issued now and send it."""
        return self.send(make_command(ctype, self.spec.cid, self.clock.now, **fields))

    def play(self, start_in: float = 10.0, **fields) -> dict:
        """Build a valid play starting `start_in` s from now and send it."""
        return self.send(make_play(self.spec.cid, self.clock.now, start_in=start_in, **fields))

    def inject(self, *faults: str) -> FakeLink:
        """Plan `faults` (--fault texts) on this one cluster, start them now, and return the fake link they act on."""
        plan = plan_faults(combine(None, list(faults)), [self.spec], self.board.seed)
        link = FakeLink(self.firmware)
        self.injector = FaultInjector(plan, {self.spec.cid: link}, self.board)
        self.injector.start(self.clock.now)
        self.timers.run_due(self.clock.now)  # what starts at 0 s is there before the test goes on
        return link

    def relay(self, start_in: float = 10.0, window_s: float = 60.0, **fields) -> dict:
        """Build a valid relay whose window opens `start_in` s from now and lasts `window_s`, and send it."""
        return self.send(make_relay(self.spec.cid, self.clock.now, start_in=start_in, window_s=window_s, **fields))

    # ----- looking

    @property
    def heartbeats(self) -> list[dict]:
        return [payload for kind, payload in self.uplink.sent if kind == protocol.HEARTBEAT]

    @property
    def events(self) -> list[dict]:
        return [payload for kind, payload in self.uplink.sent if kind == protocol.EVENTS]

    def events_of(self, cmd_id: str) -> list[dict]:
        return [e for e in self.events if e["cmd_id"] == cmd_id]

    def states(self, cmd_id: str | None = None) -> list[str]:
        """Return the event states sent, in order, for one command or all."""
        return [e["state"] for e in self.events if cmd_id is None or e["cmd_id"] == cmd_id]

    def event(self, cmd_id: str, state: str) -> dict:
        (found,) = [e for e in self.events if e["cmd_id"] == cmd_id and e["state"] == state]
        return found


def fixed_id(n: int) -> str:
    """Return the n-th of a fixed series of command ids, for tests that compare two runs."""
    return str(uuid.UUID(int=n))


def make_command(ctype: str, cid: str = CID, now: float = T0, **fields) -> dict:
    """Return a valid command of `ctype` issued at `now`, expiring 10 minutes later, signed by TEST_KEY."""
    command = {
        "v": 1,
        "id": str(uuid.uuid4()),
        "cid": cid,
        "type": ctype,
        "issued_at": stamp(now),
        "expires_at": stamp(now + 600),
    }
    command.update(fields)
    return signed(command)


def make_play(cid: str = CID, now: float = T0, start_in: float = 10.0, **fields) -> dict:
    """Return a valid play command for a 5 s normal clip starting `start_in` s after `now`."""
    play = {
        "run_id": f"run-{uuid.uuid4().hex[:8]}",
        "title": "Thông báo lịch tiêm chủng",
        "priority": "normal",
        "start_at": stamp(now + start_in),
        "duration_ms": 5000,
        "audio": {"url": "http://media.test/clip.mp3", "sha256": SHA, "bytes": 1234},
    }
    play.update(fields)
    return make_command("play", cid, now, **play)


def make_relay(cid: str = CID, now: float = T0, start_in: float = 10.0, window_s: float = 60.0, **fields) -> dict:
    """Return a valid relay command for a normal live stream whose window opens `start_in` s after `now`."""
    relay = {
        "run_id": f"relay-{uuid.uuid4().hex[:8]}",
        "title": "Tiếp sóng Đài Phát thanh thành phố",
        "priority": "normal",
        "start_at": stamp(now + start_in),
        "end_at": stamp(now + start_in + window_s),
        "stream_url": "http://radio.test/live.mp3",
    }
    relay.update(fields)
    return make_command("relay", cid, now, **relay)


def wait_until(condition, timeout: float = 10.0, what: str = "the condition"):
    """Poll `condition()` until it is truthy and return its value; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout} s for {what}")
        time.sleep(0.01)
    return value


def on(kind: str, **fields):
    """Return a predicate for messages of one channel whose payload has every given field value."""

    def match(topic, payload, retained):
        return topic.endswith("/" + kind) and isinstance(payload, dict) and all(
            payload.get(k) == v for k, v in fields.items()
        )

    return match


class Listener:
    """A stand-in for the controller: a paho client that records what arrives and can publish commands."""

    def __init__(self, broker_url: str, *filters: str):
        """Log in with the URL's user (`broker.tester()` may read and write everything)."""
        settings = SessionSettings.from_url(broker_url)
        address = urlsplit(broker_url)
        self.messages: list[tuple[str, dict | bytes, bool]] = []
        self._lock = threading.Condition()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        if address.username:
            self.client.username_pw_set(unquote(address.username), unquote(address.password or ""))
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe([(flt, 1) for flt in filters])
        self.client.on_subscribe = lambda *args: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect(settings.host, settings.port)
        self.client.loop_start()
        if not self._subscribed.wait(5):
            raise TimeoutError("the listener could not subscribe")

    def _on_message(self, client, userdata, message) -> None:
        try:
            payload = json.loads(message.payload)
        except ValueError:
            payload = message.payload
        with self._lock:
            self.messages.append((message.topic, payload, bool(message.retain)))
            self._lock.notify_all()

    def matching(self, predicate) -> list[tuple[str, dict, bool]]:
        with self._lock:
            return [m for m in self.messages if predicate(*m)]

    def wait_for(self, predicate, count: int = 1, timeout: float = 10.0) -> list[tuple[str, dict, bool]]:
        """Wait until `count` messages satisfy `predicate(topic, payload, retained)`; return them."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                found = [m for m in self.messages if predicate(*m)]
                left = deadline - time.monotonic()
                if len(found) >= count or left <= 0:
                    return found
                self._lock.wait(left)

    def command(self, root: str, command: dict | bytes, cid: str | None = None) -> None:
        """Publish a command the way the controller does: QoS 1 with a message expiry."""
        target = cid or command["cid"]
        properties = Properties(PacketTypes.PUBLISH)
        properties.MessageExpiryInterval = 600
        raw = command if isinstance(command, bytes) else protocol.encode(command)
        topic = protocol.topic(root, target, protocol.CMD)
        self.client.publish(topic, raw, qos=1, properties=properties).wait_for_publish(5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
