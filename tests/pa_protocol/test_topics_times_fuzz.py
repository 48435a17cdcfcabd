"""Fuzzing topics, wire times and API states: each is read exactly or refused with its documented error."""

import re
from datetime import UTC

from hypothesis import given, settings
from hypothesis import strategies as st

import pa_protocol as protocol
from pa_protocol import DeliveryState, ProtocolError, RunState
from tests.pa_protocol.contract import TIME
from tests.pa_protocol.strategies import CID, HOSTILE_VALUE, MOMENT, wire_time

FUZZ = settings(max_examples=200, deadline=None)
ROOT = st.sampled_from([protocol.DEFAULT_ROOT, "pa/v1/test", "x"])
TOPIC_PARTS = st.sampled_from(["pa", "v1", "clusters", "om-tho-001", "A", "+", "#", "", "status", "events",
                               "heartbeat", "cmd", "om-tho-001\n", "ơ", "\x00", "a" * 33])


@FUZZ
@given(ROOT, st.lists(TOPIC_PARTS, max_size=6).map("/".join) | st.text(max_size=60))
def test_a_topic_is_one_clusters_channel_or_refused(root, name):
    try:
        cid, kind = protocol.parse_topic(root, name)
    except ProtocolError as exc:
        assert exc.reason == "malformed"
        return
    assert re.fullmatch(r"[a-z0-9-]{1,32}", cid, re.ASCII) and kind in protocol.TOPIC_KINDS
    assert protocol.topic(root, cid, kind) == name


@FUZZ
@given(ROOT, CID, st.sampled_from(protocol.TOPIC_KINDS))
def test_a_clusters_topic_parses_back_to_its_cluster_and_kind(root, cid, kind):
    assert protocol.parse_topic(root, protocol.topic(root, cid, kind)) == (cid, kind)


def test_a_cluster_id_with_a_trailing_newline_is_no_cluster_id():
    assert not protocol.CID_PATTERN.match("om-tho-001\n")


@FUZZ
@given(wire_time() | HOSTILE_VALUE | st.text(st.sampled_from("0123456789-:TZ.+ \n٢"), max_size=32))
def test_a_time_is_read_as_an_aware_utc_moment_or_refused(text):
    try:
        moment = protocol.parse_time(text)
    except ProtocolError as exc:
        assert exc.reason == "malformed"
        return
    assert TIME.fullmatch(text) and moment.tzinfo is not None and moment.utcoffset().total_seconds() == 0
    assert moment.year >= 1


@FUZZ
@given(MOMENT)
def test_a_time_round_trips_to_the_millisecond(moment):
    assert protocol.parse_time(protocol.format_time(moment)) == moment.astimezone(UTC)


@FUZZ
@given(st.sampled_from([*DeliveryState, *RunState]).map(str) | st.text(max_size=12))
def test_an_api_state_is_read_as_its_member_or_refused_with_value_error(text):
    for states in (DeliveryState, RunState):
        try:
            state = states(text)
        except ValueError:
            continue
        assert state.value == text and (states is RunState or state.progress >= 0)
