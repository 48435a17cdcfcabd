"""Fuzzing the firmware's command intake: whatever arrives on `cmd`, the cluster answers within the protocol or counts
it, never raises, and runs only what the controller signed (docs/protocol.md, "Validation" and "Replay rules")."""

from hypothesis import given, settings
from hypothesis import strategies as st

import pa_protocol as protocol
from firmware_sim.intake import content_digest, message_key, read_command, readable_ids
from pa_protocol import ProtocolError, RejectReason
from tests.firmware_sim.factories import CID, Rig, make_command
from tests.pa_protocol.contract import REASONS, assert_conforms
from tests.pa_protocol.strategies import HOSTILE_VALUE, dumps, hostile_bytes, mutated, valid_payload

FUZZ = settings(max_examples=100, deadline=None)
HOSTILE_COMMAND = st.one_of(
    st.binary(max_size=200),
    st.dictionaries(st.sampled_from(["v", "id", "cid", "type", "run_id", "kid", "sig"]), HOSTILE_VALUE).map(dumps),
    valid_payload(protocol.CMD, CID).flatmap(hostile_bytes),
    st.just(b'{"id": "%s"}' % (b"x" * (protocol.MAX_STRING + 1))), st.just(b'{"id": "a\\ud800"}'),
    st.just(b'{"id": "a\\u0000"}'), st.just(b'{"id": "x", "run_id": "%s"}' % (b"r" * (protocol.MAX_STRING + 1))),
    st.just(b"[" * 100_000),
)


@FUZZ
@given(HOSTILE_COMMAND | valid_payload(protocol.CMD, CID).map(protocol.encode))
def test_a_command_payload_is_read_to_a_valid_command_or_refused(raw):
    try:
        command = read_command(CID, raw)
    except ProtocolError as exc:
        assert exc.reason in REASONS
    else:
        assert_conforms(protocol.CMD, CID, command)
        assert len(content_digest(command)) == 64
    cmd_id, run_id = readable_ids(raw)
    for found in (cmd_id, run_id):  # what an event can carry back to the controller
        if found is not None:
            assert len(found) <= protocol.MAX_STRING and "\x00" not in found and found.encode("utf-8") is not None
    assert isinstance(message_key(raw), str)


@FUZZ
@given(HOSTILE_COMMAND)
def test_a_hostile_payload_is_answered_rejected_within_the_protocol_or_counted_and_nothing_runs(raw):
    rig = Rig()
    rig.send(raw)  # FakeUplink decodes every event the firmware sends: each is a valid report
    events, unreadable = rig.events, rig.firmware.unreadable
    assert len(events) + unreadable == 1, (events, unreadable)
    if events:
        assert events[0]["state"] == "rejected" and events[0]["detail"]["reason"] in set(RejectReason)
    assert not rig.truth.of(event="received") and rig.audio.requested == [] and rig.firmware.volume == 70


@FUZZ
@given(st.data(), st.sampled_from(["set_volume", "test_tone", "stop"]))
def test_a_signed_command_changed_in_any_way_is_never_run(data, ctype):
    rig = Rig()
    fields = {"set_volume": {"volume": 10}, "test_tone": {"duration_ms": 500}, "stop": {}}[ctype]
    signed = make_command(ctype, now=rig.clock.now, **fields)
    forged = data.draw(mutated(signed))
    rig.send(dumps(forged))
    if forged != signed:
        assert "received" not in rig.states() and rig.firmware.volume == 70
