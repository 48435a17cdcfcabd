"""One cluster's MQTT 5 session, carried by a paho client that the shared loop drives.

It also plays the link and the power of the pole for the fault injector: a link that dies
without a word (`cut_link`), a power cut or crash (`power_off`/`power_on`), an application that
hangs while its MQTT stack keeps the link up (`recover` ends it), and a flaky link that loses or
delays messages as the firmware's condition says, each draw keyed by the message it is about.
"""

import logging
import socket
from collections import Counter
from dataclasses import dataclass
from functools import partial
from urllib.parse import urlparse

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

import pa_protocol as protocol
from firmware_sim.board import Board
from firmware_sim.firmware import Firmware
from firmware_sim.intake import message_key, readable_ids
from firmware_sim.latency import Latency
from firmware_sim.loop import Loop
from firmware_sim.pacer import ConnectPacer
from firmware_sim.roster import ClusterSpec
from firmware_sim.seen import SeenCommands

log = logging.getLogger(__name__)

SESSION_EXPIRY_S = 86_400
BOOT_TIME_S = 1.0  # how long a rebooting cluster stays away
DISCONNECT_WITH_WILL = 0x04
# One for every session: paho only reads it, and one per client cost 29 µs and 5.6 KB each at 10,000 clusters.
CONNECT_PROPERTIES = Properties(PacketTypes.CONNECT)
CONNECT_PROPERTIES.SessionExpiryInterval = SESSION_EXPIRY_S


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
    bind_address: str = ""  # the local address to connect from ("" lets the kernel choose): one address has
    # only ~28,000 ephemeral ports, so a fleet of 100,000 on loopback spreads over 127.0.0.2, .3 …

    @classmethod
    def from_url(cls, url: str, **options) -> "SessionSettings":
        """Read `mqtt://host[:port]`.

        TLS (`mqtts://`) is not simulated: paho makes its handshake blocking, which would stall the one loop
        thread of every cluster at each connect, and bytes TLS has decrypted ahead wait unseen by the selector.
        """
        parsed = urlparse(url)
        if parsed.scheme == "mqtts":
            raise BrokerURLError(f"broker URL {url!r}: TLS is not simulated; use the broker's plain listener "
                                 "(make run's mqtt://127.0.0.1:1884, on loopback)")
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

    It connects with username = cid and the cluster's password if it has one. A command is
    acknowledged only once the firmware has handled it (its id on disk, its outcome sent), so one
    lost with the link or the power is delivered again by the broker.

    While the application hangs (`silent`), its MQTT stack still answers keep-alives but nothing
    handles commands: they stay unacknowledged, held in the stack, and the application handles them
    in order when it recovers, as the broker would deliver them again. Acknowledging them unhandled
    would be the other model (a stack that acks on receipt), but then a hung cluster would lose
    commands outright, which PROTOCOL.md's "acknowledged after handled" rules out. A reconnect
    meanwhile drops the held ones: the broker delivers them again itself. Every method runs on the
    loop thread.
    """

    def __init__(self, spec: ClusterSpec, board: Board, loop: Loop, pacer: ConnectPacer, settings: SessionSettings,
                 seen: SeenCommands | None = None, password: str | None = None):
        self.cid = spec.cid
        self.board = board
        self.loop = loop
        self.pacer = pacer
        self.settings = settings
        self.password = password
        self.firmware = Firmware(spec, self, board, seen)
        self.topics = {kind: protocol.topic(settings.root, spec.cid, kind) for kind in protocol.TOPIC_KINDS}
        self.client: mqtt.Client | None = None
        self.subscribed = False  # CONNACK and SUBACK seen: commands reach this cluster
        self.ever_subscribed = False  # the broker holds its subscription: commands wait for it from now on
        self.stopping = False
        self._rebooting = False
        self._pending = False  # a connection attempt is queued or timed
        self._failures = 0
        self._connection = 0  # counts CONNACKs: an ack belongs to the connection its command came on
        self._cuts = 0  # link faults acting: the link is dead while any is
        self._outages = 0  # power faults acting: the pole is off while any is
        self._inbound = Latency(loop.timers)
        self._outbound = Latency(loop.timers)
        self._held: list[tuple[mqtt.MQTTMessage, int]] = []  # ignored by a hung application, unacknowledged
        self._deliveries: Counter = Counter()  # per command, how often it came: keys the draws of a flaky link
        self._publishes: Counter = Counter()  # per event of a command, how often it went out: the same, outbound
        self._backoffs = 0

    def __repr__(self) -> str:
        return f"Session({self.cid})"

    @property
    def link_up(self) -> bool:
        """Tell whether no fault keeps this cluster off the network."""
        return not self._cuts and not self._outages

    # ----- lifecycle

    def start(self) -> None:
        """Queue the first connection attempt."""
        self._request_connect()

    def shutdown(self) -> None:
        """Stop for good: cancel timers and disconnect with the will, so the controller sees us offline."""
        self.stopping = True
        self.firmware.halt()
        if self.client is None or self.client.socket() is None:
            return
        if self.loop.is_dark(self.client):
            self.client.socket().close()  # the process ends: the kernel closes a link that was dead anyway
            return
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
        condition = self.firmware.condition
        if not condition.flaky:
            self._outbound.pass_on(self.board.now(), 0.0, self._publish, kind, payload, None)
            return
        key = self._publish_key(kind, payload)
        latency = condition.latency(incoming=False, key=key)
        self._outbound.pass_on(self.board.now(), latency, self._publish, kind, payload, key)

    def _publish_key(self, kind: str, payload: dict) -> str:
        """Name one publish for the draws of the link: a heartbeat by boot and seq, an event by its command."""
        if kind == protocol.HEARTBEAT:
            return f"heartbeat/{self.firmware.boots}/{payload['seq']}"
        name = f"{kind}/{payload.get('cmd_id', '')}/{payload.get('state', '')}"
        self._publishes[name] += 1
        return f"{name}/{self._publishes[name]}"

    def _publish(self, kind: str, payload: dict, key: str | None) -> None:
        if kind == protocol.HEARTBEAT and not self.subscribed:
            return
        # A status is never lost: every reconnect publishes a new birth anyway.
        lost = (key is not None and kind != protocol.STATUS and self.subscribed
                and self.firmware.condition.loses(incoming=False, key=key))
        if lost:
            self.board.tally.lost += 1
            if kind == protocol.HEARTBEAT:
                return  # QoS 0: gone
        self.client.publish(
            self.topics[kind], protocol.encode(payload), qos=protocol.QOS[kind], retain=kind == protocol.STATUS
        )
        if lost:
            self._break_link()  # before it is written: paho sends it again after the reconnect

    # ----- faults of the link and the power (the fault injector's Target)

    def cut_link(self) -> None:
        """The link dies without a word: nothing more is read or written, no DISCONNECT, no keep-alive.

        The broker notices only when 1.5 keep-alives pass without a packet, and then publishes the will.
        """
        self._cuts += 1
        if self._cuts == 1:
            self._go_dark()

    def restore_link(self) -> None:
        """The link is back: drop the dead connection and reconnect through the pacer."""
        self._cuts -= 1
        self._come_back()

    def power_off(self, cause: str, quietly: bool) -> None:
        """The pole loses power (`quietly`: the link dies without a word) or the firmware crashes (socket closed)."""
        self._outages += 1
        if self._outages > 1:
            return
        log.debug("%s: %s", self.cid, cause)
        self._drop_held()
        self.firmware.power_off()
        if quietly:
            self._go_dark()
        else:
            self._break_link()

    def power_on(self, cause: str) -> None:
        """Power is back: boot with a new boot_id and reconnect through the pacer with the rest of the ward."""
        self._outages -= 1
        if self._outages:
            return
        self.firmware.power_on(cause)
        self._come_back()

    def recover(self) -> None:
        """The hung application works again: it handles, in order, the commands it ignored (still unacknowledged)."""
        if self.firmware.condition.silent:
            return  # another hang still acts
        held, self._held = self._held, []
        for message, connection in held:
            self._handle(message, connection)

    def _drop_held(self) -> None:
        """Forget the commands held unacknowledged: the broker delivers them again after the reconnect."""
        self.firmware.queued -= len(self._held)
        self._held = []

    def _go_dark(self) -> None:
        if self.subscribed:
            self.subscribed = False
            self.board.tally.connected -= 1
        if self.client is not None:
            self.loop.darken(self.client)

    def _come_back(self) -> None:
        if self.link_up:
            self._request_connect()  # through the pacer: a whole ward comes back at the connect rate

    def _break_link(self) -> None:
        """Close the connection at once without DISCONNECT, as a link that fails or a process that dies does."""
        sock = self.client.socket() if self.client is not None else None
        if sock is None:
            return
        try:
            sock.shutdown(socket.SHUT_RDWR)  # the loop reads the end of stream and paho reports the loss
        except OSError:
            pass

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
        if self.stopping or not self.link_up:
            return
        client = self.client or self._make_client()
        self.loop.undarken(client)  # dark until now, so the dead link sent no ping; reconnect() closes it unread
        # The will is fixed per connection: it carries this boot and this connection's count.
        will = protocol.encode(self.firmware.will())
        client.will_set(self.topics[protocol.STATUS], will, qos=1, retain=True)
        try:
            client.reconnect()
        except OSError as exc:
            self._failures += 1
            log.warning("%s cannot reach the broker: %s", self.cid, exc)
            self._request_connect(self._backoff())

    def _make_client(self) -> mqtt.Client:
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=self.cid, protocol=mqtt.MQTTv5, userdata=self,
            manual_ack=True,
        )
        client.username_pw_set(self.cid, self.password)
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_disconnect = self._on_disconnect
        client.message_callback_add(self.topics[protocol.CMD], self._on_command)
        self.loop.watch(client)
        client.connect_async(
            self.settings.host,
            self.settings.port,
            keepalive=self.settings.keepalive,
            clean_start=False,
            properties=CONNECT_PROPERTIES,
            bind_address=self.settings.bind_address,
        )
        self.client = client
        return client

    def _backoff(self) -> float:
        ceiling = min(self.settings.reconnect_max_s, self.settings.reconnect_min_s * 2 ** min(self._failures, 16))
        self._backoffs += 1
        return self.firmware.dice.uniform(ceiling / 2, ceiling, "backoff", self._backoffs)

    # ----- paho callbacks

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.warning("%s refused by the broker: %s", self.cid, reason_code)
            return  # the broker closes the connection; _on_disconnect retries with backoff
        self._failures = 0
        self._connection += 1
        self._drop_held()
        client.subscribe(self.topics[protocol.CMD], qos=1)
        self.send(protocol.STATUS, self.firmware.status(online=True))
        self.firmware.start_heartbeat()

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        if any(code.is_failure for code in reason_codes):
            log.error("%s could not subscribe to %s: %s", self.cid, self.topics[protocol.CMD], reason_codes)
            return
        if not self.subscribed:
            self.subscribed = self.ever_subscribed = True
            self.board.tally.connected += 1

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        if self.subscribed:
            self.subscribed = False
            self.board.tally.connected -= 1
        if self.stopping or not self.link_up:
            return  # the end of the fault reconnects
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
        condition = self.firmware.condition
        latency = 0.0
        if condition.flaky:
            name = message_key(message.payload)
            self._deliveries[name] += 1
            key = f"{name}/{self._deliveries[name]}"
            if condition.loses(incoming=True, key=key):
                self._lose(message)
                return
            latency = condition.latency(incoming=True, key=key)
        self.firmware.queued += 1
        self._inbound.pass_on(self.board.now(), latency, self._handle, message, self._connection)

    def _lose(self, message) -> None:
        """The flaky link loses a command on its way in and breaks: unacknowledged, it comes again."""
        self.board.tally.lost += 1
        cmd_id, run_id = readable_ids(message.payload)
        self.firmware.outbox.truth("lost", cmd_id, run_id, direction="in")
        self._break_link()

    def _handle(self, message, connection: int) -> None:
        self.firmware.queued -= 1
        if self._outages:
            return  # power went before the firmware saw it: unacknowledged, so it comes again
        try:
            taken = self.firmware.handle_command(message.payload, partial(self._ack, message, connection))
        except Exception:
            # A firmware bug must not leave the PUBACK unsent or kill the loop.
            log.exception("%s failed on a command", self.cid)
            self._ack(message, connection)
            return
        if not taken:
            self._held.append((message, connection))
            self.firmware.queued += 1

    def _ack(self, message, connection: int) -> None:
        """Acknowledge a handled command, if it came on the connection still up (else the broker sends it again)."""
        if connection == self._connection and self.client is not None:
            self.client.ack(message.mid, message.qos)
