"""Fuzzing the controller's inbox: whatever arrives on whatever topic, `receive` never raises and hands the writer
exactly one item: the decoded report, or an unreadable one with its reason (the topic's cluster, if it names one)."""

from hypothesis import given, settings
from hypothesis import strategies as st

import pa_protocol as protocol
from pa_controller.messaging.inbox import UNREADABLE, Inbox
from tests.pa_protocol.contract import REASONS, assert_conforms
from tests.pa_protocol.strategies import CID, hostile_bytes, valid_payload

ROOT = protocol.DEFAULT_ROOT
REPORTS = (protocol.STATUS, protocol.HEARTBEAT, protocol.EVENTS)
BAD_CIDS = st.sampled_from(["OM-THO-001", "om_tho_001", "a" * 33, "ơ-môn", "om-tho-001\n", "", "+", "a b"])


class Recorder:
    """A writer that keeps what it is handed."""

    kinds = (*REPORTS, UNREADABLE)

    def __init__(self):
        self.items: list[tuple] = []

    def write(self, batch: list, now) -> tuple[int, int]:
        self.items.extend(batch)
        return len(batch), 0


@st.composite
def message(draw) -> tuple[str, bytes]:
    kind, cid = draw(st.sampled_from(REPORTS)), draw(CID)
    payload = draw(valid_payload(kind, cid))
    raw = draw(st.just(protocol.encode(payload)) | hostile_bytes(payload) | st.binary(max_size=64))
    topic_cid = draw(st.just(cid) | CID | BAD_CIDS)
    return draw(st.just(protocol.topic(ROOT, topic_cid, kind)) | st.text(max_size=40)), raw


def test_every_message_is_handed_on_once_decoded_or_as_unreadable_and_receive_never_raises():
    recorder = Recorder()
    inbox = Inbox(ROOT, recorder, max_wait_s=0.01)
    sent: list[tuple[str, bytes]] = []

    @settings(max_examples=200, deadline=None)
    @given(message())
    def receive(one):
        sent.append(one)
        inbox.receive(*one)

    inbox.start()
    try:
        receive()
    finally:
        inbox.stop()
    assert len(recorder.items) == len(sent)
    for (topic, _raw), (kind, cid, payload) in zip(sent, recorder.items, strict=True):
        try:
            topic_cid, topic_kind = protocol.parse_topic(ROOT, topic)
        except protocol.ProtocolError:
            assert (kind, cid, payload) == (UNREADABLE, None, {"reason": "malformed"})
            continue
        assert cid == topic_cid, "counted against the topic's cluster, never the payload's"
        if kind == UNREADABLE:
            assert payload["reason"] in REASONS
        else:
            assert kind == topic_kind
            assert_conforms(kind, cid, payload)
    assert inbox.rejected.total() == sum(1 for kind, _, _ in recorder.items if kind == UNREADABLE)
