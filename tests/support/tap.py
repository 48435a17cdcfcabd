"""A raw MQTT observer of every cluster's `cmd` and `events` topics, independent of the code under test.

It keeps a persistent session (session expiry, never a clean start), as the clusters do, so
a broker restart with persistence loses nothing it should have seen, and it counts every copy
of a command it receives: two copies of one command id mean the controller published it twice.
"""

import json
import threading
import time
import uuid
from collections import Counter
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

import pa_protocol as protocol


class Tap:
    def __init__(self, broker_url: str, root: str = protocol.DEFAULT_ROOT):
        """Observe through `broker_url`, which names a login that may read every cluster (`broker.tester()`)."""
        address = urlsplit(broker_url)
        self.host, self.port = address.hostname, address.port
        self.root = root
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"tap-{uuid.uuid4().hex[:8]}",
                                  protocol=mqtt.MQTTv5)
        if address.username:
            self.client.username_pw_set(unquote(address.username), unquote(address.password or ""))
        self.client.reconnect_delay_set(0.2, 2)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.message_callback_add(protocol.wildcard(root, protocol.CMD), self._on_command)
        self.client.message_callback_add(protocol.wildcard(root, protocol.EVENTS), self._on_event)
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.copies: Counter[str] = Counter()  # command id -> copies the controller published
        self.redeliveries = 0  # copies the broker re-sent to the tap itself
        self.targets: dict[str, tuple[str, str | None]] = {}  # command id -> (cid of its topic, run_id)
        self.events: list[dict] = []
        self.connects: list[tuple[int, bool]] = []  # (reason code, session present) of each CONNACK
        self.last_message_at = time.monotonic()
        # Called on the network thread with the number of distinct commands seen, after each new one.
        self.on_new_command = None
        # Called on the network thread with each event (not a copy the broker re-sent to the tap), once kept.
        self.on_event = None

    def __enter__(self) -> "Tap":
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = 3600
        # clean_start=False from the first connection (the client id is new anyway): Mosquitto does not
        # restore, after its own restart, a session whose first connection asked for a clean start.
        self.client.connect(self.host, self.port, keepalive=30, clean_start=False, properties=properties)
        self.client.loop_start()
        if not self._subscribed.wait(10):
            raise RuntimeError("the tap could not subscribe within 10 s")
        return self

    def __exit__(self, *exc_info) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        self.connects.append((reason_code.value, flags.session_present))
        if not reason_code.is_failure:
            client.subscribe([(protocol.wildcard(self.root, protocol.CMD), 1),
                              (protocol.wildcard(self.root, protocol.EVENTS), 1)])

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties):
        self._subscribed.set()

    def _on_command(self, client, userdata, message):
        command = json.loads(message.payload)
        with self._lock:
            self.last_message_at = time.monotonic()
            if message.dup and command["id"] in self.copies:
                # The broker re-sending to the tap itself (its PUBACK was lost in a broker restart) is
                # not a second publish by the controller: DUP is set per hop, never forwarded (MQTT 3.3.1.1).
                self.redeliveries += 1
                return
            self.copies[command["id"]] += 1
            self.targets[command["id"]] = (message.topic.split("/")[-2], command.get("run_id"))
            distinct = len(self.copies)
            new = self.copies[command["id"]] == 1
        if new and self.on_new_command is not None:
            self.on_new_command(distinct)

    def _on_event(self, client, userdata, message):
        event = json.loads(message.payload)
        with self._lock:
            self.last_message_at = time.monotonic()
            if message.dup:
                return
            self.events.append(event)
        if self.on_event is not None:
            self.on_event(event)

    # ----- looking in

    def commands(self, run_id: int) -> Counter:
        """Return the copies received of each command of one run."""
        with self._lock:
            return Counter({cmd_id: n for cmd_id, n in self.copies.items() if self.targets[cmd_id][1] == str(run_id)})

    def duplicate_receipts(self) -> Counter:
        """Return, per command id, how many `received` events said the command was a duplicate."""
        with self._lock:
            return Counter(e["cmd_id"] for e in self.events
                           if e["state"] == "received" and (e.get("detail") or {}).get("duplicate"))

    def wait_quiet(self, quiet_s: float, timeout_s: float) -> None:
        """Wait until nothing has arrived for `quiet_s` (the broker has delivered what it had)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                idle = time.monotonic() - self.last_message_at
            if idle >= quiet_s:
                return
            time.sleep(0.05)
        raise AssertionError(f"the broker was still delivering after {timeout_s} s")
