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
UNREADABLE = "unreadable"  # a report that broke the contract, or came on no cluster's topic: handed on, to be counted
RETRY_S = 1.0  # how often a batch the store could not take is offered again


class StoreUnavailable(Exception):
    """The writer could not reach its store (a database restarting): `unwritten` is the part of the batch it did
    not store, to be offered again, in order, before anything newer; `applied` and `unstorable` count the rest."""

    def __init__(self, unwritten: list, applied: int = 0, unstorable: int = 0):
        super().__init__(f"{len(unwritten)} report(s) not stored: the store is unavailable")
        self.unwritten, self.applied, self.unstorable = unwritten, applied, unstorable


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
            # Counted against the cluster whose topic it came on, never the payload's; None: the topic names none.
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
        held: list = []  # what the store could not take yet: the broker has had its PUBACK, this is the only copy
        while not self._stop.is_set() or not self._queue.empty():
            try:
                if batch := held or self._take_batch():
                    self.flush(batch)
                    if held:
                        log.warning("the store is back: the %d held report(s) are stored", len(held))
                    held = []
            except StoreUnavailable as exc:
                if not held:
                    log.warning("%s; holding them, offering them again every %.0f s", exc, RETRY_S)
                held = exc.unwritten
                if self._stop.wait(RETRY_S):
                    log.error("stopping with %d report(s) the store never took", len(held))
                    return
            except Exception:  # the writer must outlive any one batch
                held = []
                log.exception("inbox writer cycle failed; continuing")

    def flush(self, batch: list) -> None:
        """Hand one batch to the writer and count what it stored and what it could not; raise StoreUnavailable
        with what it did not store if it could not reach its store."""
        try:
            applied, unstorable = self.writer.write(batch, clock.now())
        except StoreUnavailable as exc:
            self._count(exc.applied, exc.unstorable)
            raise
        self._count(applied, unstorable)

    def _count(self, applied: int, unstorable: int) -> None:
        self.applied += applied
        if unstorable:
            self.rejected["unstorable"] += unstorable
