"""A guarded system: the controller keeping the broker's accounts from its fleet, clusters online with the
passwords it issued, and the attacker's raw MQTT client."""

import threading
import time
from dataclasses import dataclass

import paho.mqtt.client as mqtt
import pytest
import requests
from flask_migrate import upgrade
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from werkzeug.serving import make_server

import pa_protocol as protocol
from firmware_sim import Fleet, load_csv
from pa_controller import create_app
from pa_controller.domain import Role
from pa_controller.extensions import db
from pa_controller.scheduling.worker import Worker
from pa_controller.services import broker_access, command_keys, fleet, people
from tests.conftest import FLEET_CSV, PASSWORD
from tests.support.broker import free_port, login_of
from tests.support.system import System

# The attacker holds A's password: A's device was taken from its pole, so only the attacker uses it. B is the
# target; C is retired or rotated.
A, B, C = "om-tho-001", "om-tho-002", "om-tho-003"
HEARTBEAT_S = 1.0
KEEPALIVE_S = 2


@dataclass
class Guarded:
    system: System
    worker: Worker
    fleet: Fleet
    passwords: dict[str, str]  # as the controller issued them

    def cluster(self, cid: str) -> dict:
        """The controller's view of a cluster, minus what each heartbeat changes anyway."""
        seen = self.system.get(f"/api/v1/clusters/{cid}")
        return {key: seen[key] for key in ("status", "boot_id", "volume", "fw", "amp_ok", "speakers_ok")}

    def connection(self, cid: str) -> tuple[str, int]:
        """Which boot and which connection of it the simulated cluster is on (a takeover would make a new one)."""
        return self.fleet.call(lambda: (self.fleet.boot_id(cid), self.fleet.sessions[cid].firmware.conn))

    def send(self, method: str, path: str, **kwargs) -> requests.Response:
        return requests.request(method, self.system.base_url + path, headers=self.system.auth, timeout=10, **kwargs)

    def wait_accounts_rewritten(self, since: str) -> None:
        """Wait until the worker has rewritten the broker's accounts after `since` (a fingerprint) and reloaded it."""
        self.system.wait_for(lambda: self.worker.broker_sync.written != since, 10, "the broker's accounts to change")

    def command(self, cid: str, **body) -> dict:
        sent = self.system.post("/api/v1/commands", json={"clusters": [cid], **body})
        assert sent.status_code == 202, sent.text
        return sent.json()[0]

    def wait_command(self, command: dict, state: str, timeout_s: float = 15) -> dict:
        return self.system.wait_for(
            lambda: (found := self.system.get(f"/api/v1/commands/{command['id']}"))["state"] == state and found,
            timeout_s, f"command {command['cmd_id']} to end {state}",
            show=lambda: self.system.get(f"/api/v1/commands/{command['id']}"))


@pytest.fixture
def guarded(database_url, make_settings, broker, tmp_path):
    """Web and worker as make run runs them (the worker rewrites the broker's accounts from the fleet and makes
    it reload), the controller logging in with its password file, passwords issued to A, B and C, and B and C
    online."""
    port = free_port()
    settings = make_settings(database_url, messaging="mqtt", mqtt_url=broker.url, manage_broker=True,
                             broker_dir=broker.workdir, mqtt_password_file=broker.controller_password_file,
                             public_url=f"http://127.0.0.1:{port}", heartbeat_s=HEARTBEAT_S, fleet_watch_s=0.2)
    app = create_app(settings)
    with app.app_context():
        upgrade()
        fleet.import_csv(FLEET_CSV.read_text(encoding="utf-8"))
        token = people.issue_token(people.create_user("admin", PASSWORD, Role.ADMIN), "security")
        passwords = {one.cid: one.password for one in broker_access.issue([A, B, C])}
        command_keys.init(command_keys.KeyFiles(settings.key_dir))
        db.session.remove()
    server = make_server("127.0.0.1", port, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    worker = Worker(app, plan_interval_s=0.5)
    worker.start()
    system = System(app, f"http://127.0.0.1:{port}", token)
    specs = [spec for spec in load_csv() if spec.cid in (B, C)]
    clusters = None
    try:
        clusters = Fleet(specs, broker.url, truth_path=tmp_path / "truth.jsonl", credentials=passwords,
                         keys_url=system.keys_url, heartbeat_s=HEARTBEAT_S, keepalive=KEEPALIVE_S,
                         reconnect_min_s=0.2)
        system.wait_for(lambda: worker.broker_sync.written, 10, "the worker to write the broker's accounts")
        clusters.start()
        assert clusters.wait_connected(timeout=15) == 2
        for cid in (B, C):
            system.wait_for(lambda cid=cid: _heard(system.get(f"/api/v1/clusters/{cid}")), 15,
                            f"{cid} online with a heartbeat")
        yield Guarded(system, worker, clusters, passwords)
    finally:
        if clusters is not None:
            clusters.stop()
        worker.stop()
        server.shutdown()
        with app.app_context():
            db.engine.dispose()


def _heard(cluster: dict) -> bool:
    return cluster["status"] == "online" and cluster["volume"] is not None


class Intruder:
    """A raw MQTT 5 client of the attacker's, recording what the broker answers to each thing it tries."""

    def __init__(self, broker, username: str | None = None, password: str | None = None, *, client_id: str = "",
                 will: tuple[str, bytes] | None = None):
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        self.client.reconnect_delay_set(30, 60)  # an attacker refused stays refused while we look
        if username is not None:
            self.client.username_pw_set(username, password)
        if will is not None:
            self.client.will_set(will[0], will[1], qos=1, retain=True)
        self.connack: mqtt.ReasonCode | None = None
        self.answers: dict[int, object] = {}  # mid -> SUBACK codes or PUBACK code
        self.messages: list[tuple[str, bytes]] = []
        self._changed = threading.Condition()
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda c, u, mid, codes, p: self._answer(mid, codes)
        self.client.on_publish = lambda c, u, mid, code, p: self._answer(mid, code)
        self.client.on_message = self._on_message
        session = Properties(PacketTypes.CONNECT)
        session.SessionExpiryInterval = 3600  # as a cluster does: a session that would keep B's commands
        self.client.connect(broker.host, broker.port, keepalive=KEEPALIVE_S, clean_start=False, properties=session)
        self.client.loop_start()
        self._wait(lambda: self.connack is not None, "a CONNACK")

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        with self._changed:
            self.connack = reason_code
            self._changed.notify_all()

    def _answer(self, mid, answer):
        with self._changed:
            self.answers[mid] = answer
            self._changed.notify_all()

    def _on_message(self, client, userdata, message):
        with self._changed:
            self.messages.append((message.topic, message.payload))

    def _wait(self, done, what: str, timeout_s: float = 5) -> None:
        with self._changed:
            if not self._changed.wait_for(done, timeout_s):
                raise AssertionError(f"the broker gave no {what} within {timeout_s} s")

    @property
    def refused(self) -> bool:
        return self.connack is not None and self.connack.is_failure

    def subscribe(self, topic_filter: str) -> list:
        _, mid = self.client.subscribe(topic_filter, qos=1)
        self._wait(lambda: mid in self.answers, "SUBACK")
        return self.answers[mid]

    def publish(self, topic: str, payload: dict, retain: bool = False) -> mqtt.ReasonCode:
        """Publish QoS 1 and return the broker's PUBACK reason code."""
        info = self.client.publish(topic, protocol.encode(payload), qos=1, retain=retain)
        self._wait(lambda: info.mid in self.answers, "PUBACK")
        return self.answers[info.mid]

    @property
    def connected(self) -> bool:
        return self.client.is_connected()

    def vanish(self) -> None:
        """Drop the link without a DISCONNECT, as a pole losing power: the broker publishes the will."""
        self.client.loop_stop()
        self.client.socket().close()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def intruder(broker):
    """Make the attacker's clients; each is closed after the test."""
    made: list[Intruder] = []

    def connect(*args, **kwargs) -> Intruder:
        made.append(Intruder(broker, *args, **kwargs))
        return made[-1]

    yield connect
    for one in made:
        if one.client.socket() is not None:
            one.close()
        else:
            one.client.loop_stop()


@pytest.fixture
def witness(broker):
    """A full-rights observer of every cluster topic: what it never sees, no subscriber (the controller) saw."""
    watcher = Intruder(broker, *login_of(broker.tester()))
    watcher.subscribe(protocol.topic(protocol.DEFAULT_ROOT, "+", "#"))
    yield watcher
    watcher.close()


def settle(seconds: float = 1.0) -> None:
    """Give the broker and the controller time to act on what was just tried, if they were going to."""
    time.sleep(seconds)
