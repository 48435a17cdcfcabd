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
UNREADABLE = "unreadable"  # a report that broke the contract, or came on no cluster's topic: handed on, to be counted
RETRY_S = 1.0  # how often a batch the store could not take is offered again


class StoreUnavailable(Exception):
    """The writer could not reach its store (a database restarting): `unwritten` is the part of the batch it did
    not store, to be offered again, in order, before anything newer; `applied` and `unstorable` count the rest."""

    def __init__(self, unwritten: list, applied: int = 0, unstorable: int = 0):
        super().__init__(f"{len(unwritten)} report(s) not stored: the store is unavailable")
        self.unwritten, self.applied, self.unstorable = unwritten, applied, unstorable


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
        self.handled: Counter[str] = Counter()  # reports per kind handed to the writer and acknowledged
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
            # Counted against the cluster whose topic it came on, never the payload's; None: the topic names none.
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
        held: list = []  # what the store could not take yet, unacknowledged: the broker keeps it too
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
                    log.error("stopping with %d report(s) the store never took: the broker delivers them again",
                              len(held))
                    return
            except Exception:  # the writer must outlive any one batch
                held = []
                log.exception("inbox writer cycle failed; continuing")

    def flush(self, batch: list) -> None:
        """Hand one batch to the writer, count what it stored and what it could not, and acknowledge that; raise
        StoreUnavailable with what it did not store, unacknowledged, if it could not reach its store.

        A batch the writer failed on otherwise is acknowledged too (it is logged): left unacknowledged, it would
        hold the broker's in-flight window shut until the next reconnect.
        """
        try:
            applied, unstorable = self.writer.write([(kind, cid, payload) for kind, cid, payload, _ in batch],
                                                    clock.now())
        except StoreUnavailable as exc:
            self._count(exc.applied, exc.unstorable)
            waiting = {id(payload) for _, _, payload in exc.unwritten}
            self._acknowledge([report for report in batch if id(report[2]) not in waiting])
            raise StoreUnavailable([report for report in batch if id(report[2]) in waiting], exc.applied,
                                   exc.unstorable) from None
        except Exception:
            self._acknowledge(batch)
            raise
        self._acknowledge(batch)
        self._count(applied, unstorable)

    def _acknowledge(self, reports: list) -> None:
        for kind, *_, ack in reports:
            self.handled[kind] += 1
            ack()

    def _count(self, applied: int, unstorable: int) -> None:
        self.applied += applied
        if unstorable:
            self.rejected["unstorable"] += unstorable
