"""One cluster's MQTT 5 session, carried by a paho client that the shared loop drives."""

import logging
from dataclasses import dataclass
from urllib.parse import urlparse

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from firmware_sim.firmware import Board, Firmware
from firmware_sim.loop import Loop
from firmware_sim.pacer import ConnectPacer
from firmware_sim.roster import ClusterSpec
from pa_controller.messaging import protocol

log = logging.getLogger(__name__)

SESSION_EXPIRY_S = 86_400
BOOT_TIME_S = 1.0  # how long a rebooting cluster stays away
DISCONNECT_WITH_WILL = 0x04


class BrokerURLError(ValueError):
    """A broker URL the simulator cannot use; the message says which form it wants."""


@dataclass(frozen=True)
class SessionSettings:
    """How every session of a fleet talks to the broker."""

    host: str
    port: int = 1883
    root: str = protocol.DEFAULT_ROOT
    keepalive: int = 30
    reconnect_min_s: float = 1.0
    reconnect_max_s: float = 60.0

    @classmethod
    def from_url(cls, url: str, **options) -> "SessionSettings":
        """Read `mqtt://host[:port]`; TLS (`mqtts://`) is not simulated yet."""
        parsed = urlparse(url)
        if parsed.scheme != "mqtt" or not parsed.hostname:
            raise BrokerURLError(f"broker URL {url!r} must look like mqtt://127.0.0.1:1883")
        try:
            port = parsed.port or 1883
        except ValueError as exc:
            raise BrokerURLError(f"broker URL {url!r} has an invalid port") from exc
        return cls(parsed.hostname, port, **options)


def _will_reason() -> ReasonCode:
    return ReasonCode(PacketTypes.DISCONNECT, identifier=DISCONNECT_WITH_WILL)


class Session:
    """Keep one cluster connected: will, subscribe, birth, reconnect with backoff, reboot.

    Every method runs on the loop thread.
    """

    def __init__(self, spec: ClusterSpec, board: Board, loop: Loop, pacer: ConnectPacer, settings: SessionSettings):
        self.cid = spec.cid
        self.board = board
        self.loop = loop
        self.pacer = pacer
        self.settings = settings
        self.firmware = Firmware(spec, self, board)
        self.topics = {kind: protocol.topic(settings.root, spec.cid, kind) for kind in protocol.TOPIC_KINDS}
        self.client: mqtt.Client | None = None
        self.subscribed = False  # CONNACK and SUBACK seen: commands reach this cluster
        self.stopping = False
        self._rebooting = False
        self._pending = False  # a connection attempt is queued or timed
        self._failures = 0

    def __repr__(self) -> str:
        return f"Session({self.cid})"

    # ----- lifecycle

    def start(self) -> None:
        """Queue the first connection attempt."""
        self._request_connect()

    def shutdown(self) -> None:
        """Stop for good: cancel timers and disconnect with the will, so the controller sees us offline."""
        self.stopping = True
        self.firmware.halt()
        if self.client is not None and self.client.socket() is not None:
            self.client.disconnect(reasoncode=_will_reason())

    def restart(self) -> None:
        """Drop the connection with the will for a reboot; reconnect after BOOT_TIME_S (Uplink)."""
        self._rebooting = True
        if self.client is not None and self.client.socket() is not None:
            self.client.disconnect(reasoncode=_will_reason())
        else:
            self._after_disconnect()

    def send(self, kind: str, payload: dict) -> None:
        """Publish a payload on this cluster's channel (Uplink); heartbeats are dropped while offline."""
        if self.client is None or (kind == protocol.HEARTBEAT and not self.subscribed):
            return
        self.client.publish(
            self.topics[kind], protocol.encode(payload), qos=protocol.QOS[kind], retain=kind == protocol.STATUS
        )

    # ----- connecting

    def _request_connect(self, delay: float = 0.0) -> None:
        if self._pending or self.stopping:
            return
        self._pending = True
        if delay > 0:
            self.loop.call_later(delay, self.pacer.request, self._connect)
        else:
            self.pacer.request(self._connect)

    def _connect(self) -> None:
        self._pending = False
        if self.stopping:
            return
        client = self.client or self._make_client()
        # The will is fixed per connection: it must carry the boot_id of this boot.
        will = protocol.encode(self.firmware.status(online=False))
        client.will_set(self.topics[protocol.STATUS], will, qos=1, retain=True)
        try:
            client.reconnect()
        except OSError as exc:
            self._failures += 1
            log.warning("%s cannot reach the broker: %s", self.cid, exc)
            self._request_connect(self._backoff())

    def _make_client(self) -> mqtt.Client:
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=self.cid, protocol=mqtt.MQTTv5, userdata=self
        )
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_disconnect = self._on_disconnect
        client.message_callback_add(self.topics[protocol.CMD], self._on_command)
        self.loop.watch(client)
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = SESSION_EXPIRY_S
        client.connect_async(
            self.settings.host,
            self.settings.port,
            keepalive=self.settings.keepalive,
            clean_start=False,
            properties=properties,
        )
        self.client = client
        return client

    def _backoff(self) -> float:
        ceiling = min(self.settings.reconnect_max_s, self.settings.reconnect_min_s * 2 ** min(self._failures, 16))
        return self.board.rng.uniform(ceiling / 2, ceiling)

    # ----- paho callbacks

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.warning("%s refused by the broker: %s", self.cid, reason_code)
            return  # the broker closes the connection; _on_disconnect retries with backoff
        self._failures = 0
        client.subscribe(self.topics[protocol.CMD], qos=1)
        self.send(protocol.STATUS, self.firmware.status(online=True))
        self.firmware.start_heartbeat()

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        if any(code.is_failure for code in reason_codes):
            log.error("%s could not subscribe to %s: %s", self.cid, self.topics[protocol.CMD], reason_codes)
            return
        if not self.subscribed:
            self.subscribed = True
            self.board.tally.connected += 1

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        if self.subscribed:
            self.subscribed = False
            self.board.tally.connected -= 1
        if self.stopping:
            return
        if not self._rebooting:
            self._failures += 1
            self.board.tally.reconnects += 1
            log.info("%s lost its connection (%s); reconnecting", self.cid, reason_code)
        self._after_disconnect()

    def _after_disconnect(self) -> None:
        if self._rebooting:
            self._rebooting = False
            self._request_connect(BOOT_TIME_S)
        else:
            self._request_connect(self._backoff())

    def _on_command(self, client, userdata, message) -> None:
        try:
            self.firmware.handle_command(message.payload)
        except Exception:
            # A firmware bug must not leave the PUBACK unsent or kill the loop.
            log.exception("%s failed on a command", self.cid)
