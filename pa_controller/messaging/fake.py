"""The fake twin of MqttLink for unit tests: publishes are recorded and acknowledged at once."""

import threading
from dataclasses import dataclass


@dataclass
class _Info:
    mid: int
    rc: int = 0


class FakeLink:
    def __init__(self, url: str, client_id: str, root: str, handlers: dict, on_acked, keepalive: int = 30, *,
                 login=None, ca_file=None):
        self.root = root
        self.handlers = handlers
        self._on_acked = on_acked
        self.connected = threading.Event()
        self.published: list[tuple[str, bytes, int, int]] = []
        self._mid = 0

    def start(self) -> None:
        self.connected.set()

    def stop(self) -> None:
        self.connected.clear()

    def publish(self, topic: str, payload: bytes, qos: int, expiry_s: int) -> _Info:
        self._mid += 1
        self.published.append((topic, payload, qos, expiry_s))
        self._on_acked(self._mid, True)
        return _Info(self._mid)

    def deliver(self, topic: str, payload: bytes) -> None:
        """Feed a message as if the broker had sent it."""
        kind = topic.rsplit("/", 1)[-1]
        self.handlers[kind](topic, payload)
