"""The wire contract: what a receiver accepts and what it rejects (PROTOCOL.md, Payloads)."""

import json
from datetime import UTC, datetime

import pytest

import pa_protocol as protocol
from pa_protocol import ProtocolError

AT = "2026-11-26T22:00:00.000Z"


def status(**overrides) -> bytes:
    return json.dumps({"v": 1, "cid": "om-tho-001", "online": True, "boot_id": "b1", "at": AT, **overrides}).encode()


def test_a_valid_status_is_accepted_and_unknown_fields_are_ignored():
    payload = protocol.decode(protocol.STATUS, "om-tho-001", status(extra="ignored"))
    assert payload["online"] is True and payload["boot_id"] == "b1"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"not json", "malformed"),
        (b"\xff\xfe", "malformed"),
        (b"[1, 2]", "malformed"),
        (status(v=2), "unsupported"),
        (status(cid="om-tho-002"), "wrong_cluster"),
        (status(online="yes"), "malformed"),
        (status(at="yesterday"), "malformed"),
        (status(at="2026-11-26T22:00:00"), "malformed"),
        (json.dumps({"v": 1, "cid": "om-tho-001"}).encode(), "malformed"),
        (b" " * (protocol.MAX_PAYLOAD_BYTES + 1), "malformed"),
    ],
)
def test_a_payload_that_breaks_the_contract_is_rejected_with_its_reason(raw, reason):
    with pytest.raises(ProtocolError) as caught:
        protocol.decode(protocol.STATUS, "om-tho-001", raw)
    assert caught.value.reason == reason


def test_a_number_field_refuses_a_boolean():
    raw = json.dumps({"v": 1, "cid": "c1", "at": AT, "boot_id": "b", "seq": True, "state": "idle"}).encode()
    with pytest.raises(ProtocolError):
        protocol.decode(protocol.HEARTBEAT, "c1", raw)


def test_an_event_with_an_unknown_state_is_rejected():
    raw = json.dumps({"v": 1, "cid": "c1", "cmd_id": "x", "state": "exploded", "at": AT}).encode()
    with pytest.raises(ProtocolError):
        protocol.decode(protocol.EVENTS, "c1", raw)


def test_a_play_command_needs_its_audio_fields():
    command = {"v": 1, "id": "u", "cid": "c1", "type": "play", "issued_at": AT, "expires_at": AT, "run_id": "1",
               "title": "t", "priority": "emergency", "start_at": AT, "duration_ms": 1000, "audio": {"url": "http://x"}}
    with pytest.raises(ProtocolError, match="sha256"):
        protocol.decode(protocol.CMD, "c1", json.dumps(command).encode())


def test_an_unknown_command_type_is_unsupported():
    command = {"v": 1, "id": "u", "cid": "c1", "type": "self_destruct", "issued_at": AT, "expires_at": AT}
    with pytest.raises(ProtocolError) as caught:
        protocol.decode(protocol.CMD, "c1", json.dumps(command).encode())
    assert caught.value.reason == "unsupported"


@pytest.mark.parametrize("name", ["pa/v1/clusters/+/status", "pa/v1/clusters/A/status", "pa/v1/clusters/c1/other",
                                  "other/clusters/c1/status", "pa/v1/clusters/c1/status/x"])
def test_only_cluster_channels_parse_as_topics(name):
    with pytest.raises(ProtocolError):
        protocol.parse_topic("pa/v1", name)


def test_times_are_rfc3339_utc_with_milliseconds():
    moment = datetime(2026, 11, 26, 22, 0, 0, 123456, tzinfo=UTC)
    assert protocol.format_time(moment) == "2026-11-26T22:00:00.123Z"
    assert protocol.parse_time("2026-11-27T05:00:00.123+07:00") == moment.replace(microsecond=123000)


def test_the_signed_form_sorts_keys_drops_sig_and_keeps_vietnamese_unescaped():
    signed = protocol.canonical({"sig": "x", "title": "Thới Hòa", "a": 1})
    assert signed == '{"a":1,"title":"Thới Hòa"}'.encode()


@pytest.mark.parametrize(
    "overrides",
    [{"boot_id": "a\x00b"}, {"boot_id": "x" * 2000}, {"fw": "1" * 1025}],
)
def test_text_no_receiver_could_store_is_malformed(overrides):
    with pytest.raises(ProtocolError) as caught:
        protocol.decode(protocol.STATUS, "om-tho-001", status(**overrides))
    assert caught.value.reason == "malformed"


def test_integers_beyond_32_bits_are_malformed():
    raw = json.dumps({"v": 1, "cid": "c1", "at": AT, "boot_id": "b", "seq": 2**31, "state": "idle"}).encode()
    with pytest.raises(ProtocolError, match="out of range"):
        protocol.decode(protocol.HEARTBEAT, "c1", raw)


def test_deeply_nested_json_is_malformed_not_a_crash():
    with pytest.raises(ProtocolError) as caught:
        protocol.decode(protocol.STATUS, "c1", b"[" * 16000)
    assert caught.value.reason == "malformed"


def nested(depth: int) -> bytes:
    """Return a status whose field `extra` makes the payload `depth` levels deep (the payload is level 1)."""
    extra = "[" * (depth - 1) + "]" * (depth - 1)
    return status(extra=None).replace(b'"extra": null', f'"extra": {extra}'.encode())


def test_a_payload_nested_deeper_than_32_levels_is_malformed_and_32_is_accepted():
    assert protocol.decode(protocol.STATUS, "om-tho-001", nested(protocol.MAX_DEPTH))["extra"]
    for depth in (protocol.MAX_DEPTH + 1, 500):
        with pytest.raises(ProtocolError, match=f"deeper than {protocol.MAX_DEPTH}") as caught:
            protocol.decode(protocol.STATUS, "om-tho-001", nested(depth))
        assert caught.value.reason == "malformed"
