"""Per-topic handlers: decode in the network thread, hand over in batches from a writer thread (transport only:
storing a batch is the writer's business, services/report_writer.py).

A report is acknowledged to the broker only once the writer has had it: a worker killed with reports in its queue
has not acknowledged them, and the broker delivers them again to the persistent session when it comes back."""

import logging
import queue
import time
from collections import Counter
from collections.abc import Callable

import pa_protocol as protocol
from pa_controller import clock
from pa_controller.messaging.worker_thread import WorkerThread

log = logging.getLogger(__name__)
UNREADABLE = "unreadable"  # a report that broke the contract on a cluster's topic: handed on, to be counted


def _nothing_to_acknowledge() -> None:
    """A report fed without a broker (a test, a benchmark) has no acknowledgement to send."""


class Inbox(WorkerThread):
    """Accept reports from any thread; hand them to the writer in batches."""

    def __init__(self, root: str, writer, *, max_batch: int = 2000, max_wait_s: float = 0.05):
        """`writer` has `kinds` and `write(batch, now) -> (applied, unstorable)`, like ReportWriter."""
        self.root = root
        self.writer = writer
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self.rejected: Counter[str] = Counter()
        self.applied = 0
        self._queue: queue.Queue = queue.Queue()
        super().__init__("inbox-writer")

    def handlers(self) -> dict:
        """Return one handler per subscribed topic kind."""
        return {kind: self.receive for kind in self.writer.kinds if kind in protocol.TOPIC_KINDS}

    def receive(self, topic: str, raw: bytes, ack: Callable[[], None] = _nothing_to_acknowledge) -> None:
        """Validate one message and queue it with its `ack`, called once the writer has had it; count and log what
        breaks the contract, never raise."""
        cid = None
        try:
            cid, kind = protocol.parse_topic(self.root, topic)
            payload = protocol.decode(kind, cid, raw)
        except protocol.ProtocolError as exc:
            self.rejected[exc.reason] += 1
            if self.rejected.total() <= 100 or self.rejected.total() % 1000 == 0:
                log.warning("rejected a payload on %s (%s): %s", topic, exc.reason, exc)
            if cid is None:  # on no cluster's topic: nothing to store
                ack()
            else:  # counted against the cluster whose topic it came on, never the payload's
                self._queue.put((UNREADABLE, cid, {"reason": exc.reason}, ack))
            return
        self._queue.put((kind, cid, payload, ack))

    def _take_batch(self) -> list:
        try:
            batch = [self._queue.get(timeout=0.2)]
        except queue.Empty:
            return []
        deadline = time.monotonic() + self.max_wait_s
        while len(batch) < self.max_batch:
            remaining = deadline - time.monotonic()
            try:
                batch.append(self._queue.get(timeout=max(0, remaining)) if remaining > 0 else self._queue.get_nowait())
            except queue.Empty:
                break
        return batch

    def _run(self) -> None:
        while not self._stop.is_set() or not self._queue.empty():
            try:
                if batch := self._take_batch():
                    self.flush(batch)
            except Exception:  # the writer must outlive any one batch
                log.exception("inbox writer cycle failed; continuing")

    def flush(self, batch: list) -> None:
        """Hand one batch to the writer, count what it stored and what it could not, then acknowledge the batch.

        A batch the writer could not take at all is acknowledged too (it is logged): left unacknowledged, it would
        hold the broker's in-flight window shut until the next reconnect.
        """
        try:
            applied, unstorable = self.writer.write([(kind, cid, payload) for kind, cid, payload, _ in batch],
                                                    clock.now())
        finally:
            for *_, ack in batch:
                ack()
        self.applied += applied
        if unstorable:
            self.rejected["unstorable"] += unstorable
