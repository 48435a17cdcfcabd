"""Raw MQTT clients for tests that play another party on the broker: an attacker with full rights, a replayer of
captured commands, a forger of reports. Every such client is made here, so the credentials a broker asks for are
given in one place: the broker URL may carry them (`mqtt://user:pass@host:port`), or `username`/`password`.
"""

import json
import threading
import time
import uuid
from collections.abc import Callable
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

Message = tuple[str, dict | bytes, bool]  # topic, payload (parsed when JSON), retained


class RawClient:
    """One paho session, connected on creation, recording what arrives on what it subscribed to."""

    def __init__(self, broker_url: str, client_id: str | None = None, *, username: str | None = None,
                 password: str | None = None, timeout: float = 5.0):
        address = urlsplit(broker_url)
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5,
                                  client_id=client_id or f"raw-{uuid.uuid4().hex[:8]}")
        username, password = username or address.username, password or address.password
        if username:
            self.client.username_pw_set(username, password)
        self.messages: list[Message] = []
        self.refused: int | None = None  # the CONNACK reason code, if the broker refused the session
        self._lock = threading.Condition()
        self._connected = threading.Event()
        self._subscribed = threading.Event()
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *args: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect(address.hostname, address.port or 1883)
        self.client.loop_start()
        if not self._connected.wait(timeout):
            self.close()
            raise TimeoutError(f"no CONNACK from {address.hostname}:{address.port} within {timeout} s")

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            self.refused = reason_code.value
        self._connected.set()

    def _on_message(self, client, userdata, message) -> None:
        try:
            payload = json.loads(message.payload)
        except ValueError:
            payload = message.payload
        with self._lock:
            self.messages.append((message.topic, payload, bool(message.retain)))
            self._lock.notify_all()

    def subscribe(self, *filters: str, timeout: float = 5.0) -> "RawClient":
        """Subscribe at QoS 1 and wait for the SUBACK."""
        self._subscribed.clear()
        self.client.subscribe([(topic_filter, 1) for topic_filter in filters])
        if not self._subscribed.wait(timeout):
            raise TimeoutError(f"no SUBACK for {filters} within {timeout} s")
        return self

    def publish(self, topic: str, payload: dict | bytes, *, qos: int = 1, expiry_s: int | None = 600,
                retain: bool = False) -> None:
        """Publish as the controller publishes a command (QoS 1, a message expiry) and wait until it is out."""
        properties = Properties(PacketTypes.PUBLISH)
        if expiry_s is not None:
            properties.MessageExpiryInterval = expiry_s
        raw = payload if isinstance(payload, bytes) else json.dumps(payload, ensure_ascii=False).encode()
        self.client.publish(topic, raw, qos=qos, retain=retain, properties=properties).wait_for_publish(5)

    def matching(self, predicate: Callable[[str, dict | bytes, bool], bool]) -> list[Message]:
        with self._lock:
            return [m for m in self.messages if predicate(*m)]

    def wait_for(self, predicate: Callable[[str, dict | bytes, bool], bool], count: int = 1,
                 timeout: float = 10.0) -> list[Message]:
        """Wait until `count` messages satisfy `predicate(topic, payload, retained)`; return those there are."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(found := [m for m in self.messages if predicate(*m)]) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._lock.wait(left)
            return found

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def __enter__(self) -> "RawClient":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
