"""Fuzzing the decoder: whatever arrives, `decode` returns a payload the contract allows or raises ProtocolError."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pa_protocol as protocol
from pa_protocol import ProtocolError
from tests.pa_protocol.contract import REASONS, assert_conforms
from tests.pa_protocol.strategies import CID, HOSTILE_VALUE, dumps, hostile_bytes, valid_payload

KINDS = st.sampled_from(protocol.TOPIC_KINDS)
FUZZ = settings(max_examples=150, deadline=None)


def decoded_or_refused(kind: str, cid: str, raw: bytes) -> dict | None:
    """Decode; a refusal must be a ProtocolError with a reason word of the contract, anything else fails the test."""
    try:
        payload = protocol.decode(kind, cid, raw)
    except ProtocolError as exc:
        assert exc.reason in REASONS
        return None
    assert_conforms(kind, cid, payload)
    return payload


@FUZZ
@given(KINDS, CID, st.binary(max_size=300))
def test_arbitrary_bytes_are_decoded_to_a_valid_payload_or_refused(kind, cid, raw):
    decoded_or_refused(kind, cid, raw)


@FUZZ
@given(KINDS, CID, st.dictionaries(st.sampled_from(["v", "cid", "state", "at", "type", "id", "online", "boot_id",
                                                    "seq", "cmd_id", "detail", "audio", "volume"]) | st.text(),
                                   HOSTILE_VALUE, max_size=8))
def test_arbitrary_json_objects_are_decoded_to_a_valid_payload_or_refused(kind, cid, payload):
    decoded_or_refused(kind, cid, dumps({"v": 1, "cid": cid, **payload}))


@FUZZ
@given(st.data(), KINDS, CID)
def test_a_valid_payload_round_trips(data, kind, cid):
    payload = data.draw(valid_payload(kind, cid))
    assert protocol.decode(kind, cid, protocol.encode(payload)) == payload
    assert_conforms(kind, cid, payload)


@FUZZ
@given(st.data(), KINDS, CID)
def test_a_mutated_valid_payload_is_decoded_to_a_valid_payload_or_refused(data, kind, cid):
    decoded_or_refused(kind, cid, data.draw(hostile_bytes(data.draw(valid_payload(kind, cid)))))


@FUZZ
@given(st.data(), KINDS, CID, CID)
def test_a_valid_payload_on_another_clusters_topic_is_wrong_cluster(data, kind, cid, topic_cid):
    payload = data.draw(valid_payload(kind, cid))
    if topic_cid != cid:
        with pytest.raises(ProtocolError) as caught:
            protocol.decode(kind, topic_cid, protocol.encode(payload))
        assert caught.value.reason == "wrong_cluster"


@pytest.mark.parametrize(
    "extra",
    [b"NaN", b"Infinity", b"-Infinity", b"1e999", b'"\\ud800"', b'{"a": "x\\udfffy"}', b'{"\\ud800": 1}'],
)
def test_json_that_is_not_standard_or_not_unicode_is_malformed_even_in_a_field_no_one_reads(extra):
    raw = json.dumps({"v": 1, "cid": "c1", "online": True, "boot_id": "b", "at": "2026-11-26T22:00:00Z"}).encode()
    with pytest.raises(ProtocolError) as caught:
        protocol.decode(protocol.STATUS, "c1", raw[:-1] + b', "extra": ' + extra + b"}")
    assert caught.value.reason == "malformed"


def test_the_largest_integer_python_refuses_to_read_is_malformed():
    raw = b'{"v": 1, "cid": "c1", "seq": ' + b"9" * 5000 + b"}"
    with pytest.raises(ProtocolError) as caught:
        protocol.decode(protocol.HEARTBEAT, "c1", raw)
    assert caught.value.reason == "malformed"


@FUZZ
@given(st.data(), KINDS, CID, HOSTILE_VALUE)
def test_a_hostile_value_in_a_field_no_one_reads_is_still_valid_json_text_or_refused(data, kind, cid, value):
    decoded_or_refused(kind, cid, dumps({**data.draw(valid_payload(kind, cid)), "x_unread": value}))
