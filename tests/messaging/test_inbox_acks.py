"""The inbox acknowledges a report to the broker only once the writer has had it (a crash before loses nothing)."""

import json

import pytest

import pa_protocol as protocol
from pa_controller.messaging.inbox import UNREADABLE, Inbox, StoreUnavailable

TOPIC = protocol.topic("pa/v1", "om-tho-001", protocol.STATUS)
BIRTH = json.dumps({"v": 1, "cid": "om-tho-001", "online": True, "boot_id": "b1", "at": "2026-12-07T02:00:00.000Z"})


class Writer:
    kinds = (protocol.STATUS, protocol.HEARTBEAT, protocol.EVENTS)

    def __init__(self, fails: bool = False):
        self.fails = fails
        self.batches = []

    def write(self, batch, now):
        if self.fails:
            raise RuntimeError("database gone")
        self.batches.append(batch)
        return len(batch), 0


def test_a_report_is_acknowledged_after_the_writer_had_it_not_on_arrival():
    writer, acked = Writer(), []
    inbox = Inbox("pa/v1", writer)
    inbox.receive(TOPIC, BIRTH.encode(), lambda: acked.append("birth"))
    inbox.receive(TOPIC, b"{not json", lambda: acked.append("broken"))
    assert acked == [], "nothing is acknowledged while it only sits in the queue"
    inbox.flush([inbox._queue.get_nowait() for _ in range(2)])
    assert acked == ["birth", "broken"] and len(writer.batches[0]) == 2


def test_a_report_on_no_clusters_topic_is_queued_to_be_counted_and_a_batch_the_writer_refused_is_acknowledged():
    acked = []
    inbox = Inbox("pa/v1", Writer(fails=True))
    inbox.receive("pa/v1/clusters/../status", b"{}", lambda: acked.append("nowhere"))
    inbox.receive(TOPIC, BIRTH.encode(), lambda: acked.append("birth"))
    assert acked == [], "acknowledged only once the writer has had it"
    batch = [inbox._queue.get_nowait(), inbox._queue.get_nowait()]
    assert batch[0][:3] == (UNREADABLE, None, {"reason": "malformed"})
    with pytest.raises(RuntimeError):
        inbox.flush(batch)
    assert acked == ["nowhere", "birth"], "left unacknowledged it would hold the broker's window shut"


class HalfWriter(Writer):
    """Stores the first report of a batch, then finds its store gone."""

    def write(self, batch, now):
        raise StoreUnavailable(batch[1:], applied=1)


def test_what_the_store_could_not_take_stays_unacknowledged_and_is_handed_back_with_its_acknowledgement():
    acked = []
    inbox = Inbox("pa/v1", HalfWriter())
    for name in ("first", "second"):
        inbox.receive(TOPIC, BIRTH.encode(), lambda name=name: acked.append(name))
    with pytest.raises(StoreUnavailable) as held:
        inbox.flush([inbox._queue.get_nowait() for _ in range(2)])
    assert acked == ["first"], "the broker keeps the unstored one until it is stored"
    held.value.unwritten[0][3]()
    assert acked == ["first", "second"]
