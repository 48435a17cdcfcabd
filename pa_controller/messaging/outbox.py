"""Publish committed commands from the outbox until the broker acknowledges them: transport only; what is
due and what was acknowledged is the store's business (services/outbox.py)."""

import logging
import queue
import threading

import paho.mqtt.client as mqtt

from pa_controller.messaging.worker_thread import WorkerThread

log = logging.getLogger(__name__)
# paho keeps a QoS 1 message it could not send yet and sends it on reconnect.
QUEUED = (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN)


class OutboxPublisher(WorkerThread):
    """The one thread that publishes: rows without `sent_at` go out; a PUBACK marks them sent.

    paho calls on_publish from its network thread while holding its own locks, so
    the callback only enqueues the mid; all bookkeeping happens in this thread,
    which is also the only one that publishes.
    After a crash, rows published but not acknowledged are sent again; the
    clusters' duplicate suppression makes that harmless.
    """

    def __init__(self, store, link_factory, *, batch: int = 1000, poll_s: float = 0.25):
        """`store` has `due(in_flight, batch)` and `mark_sent(row_ids)`, like services.outbox.OutboxStore."""
        self.store = store
        self.batch = batch
        # Rows committed elsewhere are found by this poll unless a wake-up comes first (services/outbox_wake.py).
        self.poll_s = poll_s
        self.link = link_factory(self._acked)
        self._acks: queue.SimpleQueue[tuple[int, bool]] = queue.SimpleQueue()
        self._wake = threading.Event()
        self._inflight: dict[int, int] = {}  # paho mid -> outbox row id
        self._acknowledged: list[int] = []  # row ids the broker took, not yet recorded (the store may be away)
        super().__init__("outbox-publisher")

    def _interrupt(self) -> None:
        self._wake.set()

    def wake(self) -> None:
        """Tell the publisher that new rows were committed."""
        self._wake.set()

    def poll_every(self, seconds: float) -> None:
        """Look for due rows at least this often from the next wait on."""
        self.poll_s = seconds

    def _acked(self, mid: int, accepted: bool) -> None:
        self._acks.put((mid, accepted))
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.poll_s)
            self._wake.clear()
            try:
                self.mark_sent()
                if self.link.connected.is_set():
                    self.publish_pending()
            except Exception:
                log.exception("outbox cycle failed; retrying")
        self.mark_sent()

    def mark_sent(self) -> int:
        """Record the acknowledged rows as sent (refused ones go out again); return how many.

        Should the store fail (a database restarting), the rows stay to be recorded at the next cycle, which
        records them before it publishes anything: an acknowledged command is not published again.
        """
        while True:
            try:
                mid, accepted = self._acks.get_nowait()
            except queue.Empty:
                break
            row_id = self._inflight.pop(mid, None)
            if row_id is not None and accepted:
                self._acknowledged.append(row_id)
        ids = self._acknowledged
        if ids:
            self.store.mark_sent(ids)
            self._acknowledged = []
        return len(ids)

    def publish_pending(self) -> int:
        """Publish unsent, unexpired rows that are not already in flight; return how many."""
        published = 0
        for command in self.store.due(set(self._inflight.values()), self.batch):
            info = self.link.publish(command.topic, command.payload, qos=1, expiry_s=command.expiry_s)
            if info.rc not in QUEUED:
                log.warning("publish of command %s failed (rc %s); will retry", command.cmd_id, info.rc)
                break
            self._inflight[info.mid] = command.row_id
            published += 1
        if published:
            log.debug("published %d command(s)", published)
            self._wake.set()
        return published
