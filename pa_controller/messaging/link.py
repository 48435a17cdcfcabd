"""The controller's one MQTT session: paho the way its authors use it."""

import logging
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

import pa_protocol as protocol

log = logging.getLogger(__name__)
SESSION_EXPIRY_S = 7 * 24 * 3600


def broker_address(url: str) -> dict:
    """Split mqtt://user:pass@host:port or mqtts://… into connection settings."""
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise ValueError(f"broker URL {url!r} must look like mqtt://host:port or mqtts://user:pass@host:port")
    return {
        "host": parts.hostname,
        "port": parts.port or (8883 if parts.scheme == "mqtts" else 1883),
        "tls": parts.scheme == "mqtts",
        "username": unquote(parts.username) if parts.username is not None else None,
        "password": unquote(parts.password) if parts.password is not None else None,
    }


def without_login(url: str) -> str:
    """The broker URL with no user in it, for a session that logs in as an account of its own (an ingest process)."""
    address = broker_address(url)
    host = f"[{address['host']}]" if ":" in address["host"] else address["host"]
    return f"{urlsplit(url).scheme}://{host}:{address['port']}"


@dataclass(frozen=True)
class Login:
    """Who the controller logs in as when its broker URL names no one: a username and the file of its password.

    The password is read from a file (mode 600) rather than taken from the environment, where every child
    process would inherit it and a command line built from it would show it to every user of the host.
    """

    username: str
    password_file: Path

    def read(self) -> tuple[str, str] | None:
        try:
            return self.username, self.password_file.read_text().strip()
        except FileNotFoundError:
            log.warning("no broker password in %s: connecting without a login", self.password_file)
            return None


class MqttLink:
    """Subscribe to every cluster's reports and publish commands with message expiry.

    `handlers` maps a topic kind (status, heartbeat, events) to a callable taking (topic, payload bytes, ack):
    it calls `ack()` once it has kept the message (the broker delivers again what was never acknowledged, after a
    crash). `on_acked(mid, accepted)` hears of each PUBACK. `login` is used when the URL carries no user;
    `ca_file` is the CA an mqtts:// broker's certificate must chain to (else the system's). With `shared_group`,
    the reports are shared with the other sessions of that group (`$share/<group>/…`, MQTT 5): each report goes to
    one of them. With no handlers, it subscribes to nothing and only publishes.
    """

    def __init__(self, url: str, client_id: str, root: str, handlers: dict[str, Callable],
                 on_acked: Callable[[int], None], keepalive: int = 30, *,
                 login: Login | None = None, ca_file: Path | None = None, shared_group: str | None = None):
        self.address = broker_address(url)
        self.shared_group = shared_group
        self.root = root
        self.keepalive = keepalive
        self.connected = threading.Event()
        self._handlers = handlers
        self._on_acked = on_acked
        # Manual acknowledgement: paho would acknowledge a report as soon as the handler had queued it, and a
        # worker killed before storing it would lose it; the session keeps it until the handler's ack().
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5,
                                  manual_ack=True)
        self.client.max_inflight_messages_set(100)
        self.client.reconnect_delay_set(1, 30)
        # A callback that raises must never end the network thread.
        self.client.suppress_exceptions = True
        if self.address["username"]:
            self.client.username_pw_set(self.address["username"], self.address["password"])
        elif login is not None and (credentials := login.read()) is not None:
            self.client.username_pw_set(*credentials)
        if self.address["tls"]:
            self.client.tls_set(ca_certs=str(ca_file) if ca_file else None, cert_reqs=ssl.CERT_REQUIRED)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_disconnect = self._on_disconnect
        self.client.on_publish = self._on_publish
        for kind, handler in handlers.items():
            self.client.message_callback_add(protocol.wildcard(root, kind), self._wrap(handler))

    def start(self) -> None:
        """Connect in the background; paho reconnects by itself."""
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = SESSION_EXPIRY_S
        self.client.connect_async(self.address["host"], self.address["port"], self.keepalive,
                                  clean_start=False, properties=properties)
        self.client.loop_start()

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def publish(self, topic: str, payload: bytes, qos: int, expiry_s: int) -> mqtt.MQTTMessageInfo:
        """Queue one message; the broker drops it once `expiry_s` has passed."""
        properties = Properties(PacketTypes.PUBLISH)
        properties.MessageExpiryInterval = max(1, expiry_s)
        return self.client.publish(topic, payload, qos=qos, properties=properties)

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            log.error("broker refused the connection: %s (check the controller's login: PA_MQTT_USERNAME and "
                      "PA_MQTT_PASSWORD_FILE, or the user:password in PA_MQTT_URL)", reason_code)
            return
        log.info("connected to the broker at %s:%s", self.address["host"], self.address["port"])
        if not self._handlers:  # a publisher only: the reports are the ingest processes' (PA_INGEST_WORKERS)
            self.connected.set()
            return
        # Subscribing here makes subscriptions survive reconnects.
        client.subscribe([(self.subscription(kind), protocol.QOS[kind]) for kind in self._handlers])

    def subscription(self, kind: str) -> str:
        """The filter this link subscribes to for one kind of report: shared with its group, if it has one."""
        plain = protocol.wildcard(self.root, kind)
        return f"$share/{self.shared_group}/{plain}" if self.shared_group else plain

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties):
        # Connected means listening: a report published before the broker granted the subscriptions is not ours.
        if refused := [code for code in reason_codes if code.is_failure]:
            log.error("the broker refused %d of the controller's subscriptions: %s", len(refused), refused)
        self.connected.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        self.connected.clear()
        log.warning("disconnected from the broker: %s", reason_code)

    def _on_publish(self, client, userdata, mid, reason_code, properties):
        # A PUBACK with a failure code (not authorised, quota exceeded) is no delivery: the row stays unsent.
        if reason_code.is_failure:
            log.warning("broker refused publish %s: %s", mid, reason_code)
        self._on_acked(mid, not reason_code.is_failure)

    @staticmethod
    def _wrap(handler: Callable) -> Callable:
        def on_message(client, userdata, message):
            def ack() -> None:
                client.ack(message.mid, message.qos)

            try:
                handler(message.topic, message.payload, ack)
            except Exception:
                log.exception("handler failed on a message on %s; message dropped", message.topic)
                ack()
        return on_message
