"""Per-topic handlers: decode in the network thread, hand over in batches from a writer thread (transport only:
storing a batch is the writer's business, services/report_writer.py)."""

import logging
import queue
import time
from collections import Counter

import pa_protocol as protocol
from pa_controller import clock
from pa_controller.messaging.worker_thread import WorkerThread

log = logging.getLogger(__name__)
UNREADABLE = "unreadable"  # a report that broke the contract on a cluster's topic: handed on, to be counted


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

    def receive(self, topic: str, raw: bytes) -> None:
        """Validate one message; count and log what breaks the contract, never raise."""
        cid = None
        try:
            cid, kind = protocol.parse_topic(self.root, topic)
            payload = protocol.decode(kind, cid, raw)
        except protocol.ProtocolError as exc:
            self.rejected[exc.reason] += 1
            if self.rejected.total() <= 100 or self.rejected.total() % 1000 == 0:
                log.warning("rejected a payload on %s (%s): %s", topic, exc.reason, exc)
            if cid is not None:  # counted against the cluster whose topic it came on, never the payload's
                self._queue.put((UNREADABLE, cid, {"reason": exc.reason}))
            return
        self._queue.put((kind, cid, payload))

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
        """Hand one batch to the writer and count what it stored and what it could not."""
        applied, unstorable = self.writer.write(batch, clock.now())
        self.applied += applied
        if unstorable:
            self.rejected["unstorable"] += unstorable
