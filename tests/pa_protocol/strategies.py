"""Hypothesis strategies for the wire: valid payloads of every kind, hostile JSON, and mutations of valid payloads.

Shared by the fuzz tests of the protocol, the controller's inbox and the firmware's intake.
"""

import json
import math
import re
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import strategies as st

import pa_protocol as protocol
from pa_protocol import CommandType, EventState, HeartbeatState, Priority

INT32 = (-(2**31), 2**31 - 1)
CID = st.from_regex(re.compile(r"[a-z0-9-]{1,32}", re.ASCII), fullmatch=True)
TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40)
LONG_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                    min_size=protocol.MAX_STRING - 2, max_size=protocol.MAX_STRING)
INT = st.integers(*INT32)
NUMBER = INT | st.floats(allow_nan=False, allow_infinity=False)
MOMENT = st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(9998, 12, 30),
                      timezones=st.just(UTC)).map(lambda moment: moment.replace(microsecond=moment.microsecond // 1000
                                                                                  * 1000))
OFFSET = st.integers(-23 * 60 - 59, 23 * 60 + 59).map(lambda minutes: timedelta(minutes=minutes))


@st.composite
def wire_time(draw) -> str:
    """An RFC 3339 time with an offset, as the controller renders it or as another firmware might."""
    moment = draw(MOMENT)
    if draw(st.booleans()):
        return protocol.format_time(moment)
    offset = draw(OFFSET)
    local = moment.astimezone(timezone(offset))
    return local.isoformat(timespec=draw(st.sampled_from(["seconds", "milliseconds", "microseconds"])))


# Any JSON value a well-formed sender might add: finite numbers, valid text, a few levels deep.
JSON_VALUE = st.recursive(st.none() | st.booleans() | INT | NUMBER | TEXT,
                          lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
                          max_leaves=8)
EXTRA = st.dictionaries(st.text(st.characters(codec="ascii"), min_size=1, max_size=8).map(lambda name: "x_" + name),
                        JSON_VALUE, max_size=2)


def optional(draw, fields: dict) -> dict:
    """Keep each optional field or leave it out, as a sender may."""
    return {name: value for name, value in fields.items() if draw(st.booleans())}


@st.composite
def status(draw, cid: str) -> dict:
    payload = {"v": 1, "cid": cid, "online": draw(st.booleans()), "boot_id": draw(TEXT), "at": draw(wire_time())}
    return {**payload, **optional(draw, {"conn": draw(st.integers(1, INT32[1])), "fw": draw(TEXT)}), **draw(EXTRA)}


@st.composite
def heartbeat(draw, cid: str) -> dict:
    payload = {"v": 1, "cid": cid, "at": draw(wire_time()), "boot_id": draw(TEXT), "seq": draw(INT),
               "state": draw(st.sampled_from(list(HeartbeatState)).map(str))}
    extra = {"uptime_s": draw(NUMBER), "playing": draw(st.none() | TEXT), "armed": draw(st.lists(TEXT, max_size=3)),
             "volume": draw(INT), "rssi_dbm": draw(NUMBER), "temp_c": draw(NUMBER), "speakers_ok": draw(INT),
             "speakers_total": draw(INT), "amp_ok": draw(st.booleans()), "fw": draw(TEXT | LONG_TEXT)}
    return {**payload, **optional(draw, extra)}


@st.composite
def event(draw, cid: str) -> dict:
    payload = {"v": 1, "cid": cid, "cmd_id": draw(TEXT), "state": draw(st.sampled_from(list(EventState)).map(str)),
               "at": draw(wire_time())}
    extra = {"run_id": draw(st.none() | TEXT), "detail": draw(st.none() | st.dictionaries(TEXT, JSON_VALUE,
                                                                                          max_size=3))}
    return {**payload, **optional(draw, extra)}


@st.composite
def command(draw, cid: str) -> dict:
    ctype = draw(st.sampled_from(list(CommandType)))
    payload = {"v": 1, "id": draw(TEXT), "cid": cid, "type": str(ctype), "issued_at": draw(wire_time()),
               "expires_at": draw(wire_time())}
    priority = st.sampled_from(list(Priority)).map(str)
    volume = st.integers(0, 100)
    run = {"run_id": draw(TEXT), "title": draw(TEXT | LONG_TEXT), "priority": draw(priority),
           "start_at": draw(wire_time())}
    fields = {
        CommandType.PLAY: lambda: {**run, "duration_ms": draw(INT), "audio": {
            "url": draw(TEXT), "sha256": draw(TEXT), "bytes": draw(INT)}, **optional(draw, {"volume": draw(volume)})},
        CommandType.RELAY: lambda: {**run, "end_at": draw(wire_time()), "stream_url": draw(TEXT),
                                    **optional(draw, {"volume": draw(volume)})},
        CommandType.CANCEL: lambda: {"run_id": draw(TEXT)},
        CommandType.STOP: lambda: optional(draw, {"max_priority": draw(priority)}),
        CommandType.SET_VOLUME: lambda: {"volume": draw(volume)},
        CommandType.TEST_TONE: lambda: {"duration_ms": draw(INT)},
        CommandType.REBOOT: lambda: {},
    }[ctype]()
    signature = optional(draw, {"kid": draw(st.none() | TEXT), "sig": draw(st.none() | TEXT)})
    return {**payload, **fields, **signature}


VALID = {protocol.STATUS: status, protocol.HEARTBEAT: heartbeat, protocol.EVENTS: event, protocol.CMD: command}


def valid_payload(kind: str, cid: str) -> st.SearchStrategy[dict]:
    return VALID[kind](cid)


# ----- hostile values

def nested(depth: int) -> object:
    value: object = []
    for _ in range(depth - 1):
        value = [value]
    return value


HOSTILE_VALUE = st.one_of(
    st.none(), st.booleans(), st.just(True), st.just(False),
    st.integers(), st.integers(min_value=2**31), st.integers(max_value=-(2**31) - 1), st.just(10**400),
    st.floats(), st.just(math.nan), st.just(math.inf), st.just(-math.inf), st.just(-0.0),
    st.text(), st.text(min_size=protocol.MAX_STRING + 1, max_size=protocol.MAX_STRING + 5),
    st.just("\x00"), st.just("\ud800"), st.just("a\udfffb"), st.just("2026-11-26T22:00:00Z\n"),
    st.just("٢٠٢٦-١١-٢٦T22:00:00Z"), st.just("0001-01-01T00:00:00+01:00"), st.just("9999-12-31T23:59:59-01:00"),
    st.sampled_from([*map(str, Priority), *map(str, CommandType), *map(str, EventState), "emergency ", "PLAY"]),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=3), st.integers(), max_size=3),
    st.integers(1, 40).map(nested), st.just(nested(protocol.MAX_DEPTH + 1)),
)


def dumps(value) -> bytes:
    """Serialise any Python value as JSON would be sent by a careless or hostile sender (NaN, lone surrogates…)."""
    return json.dumps(value, ensure_ascii=True, allow_nan=True).encode()


@st.composite
def mutated(draw, payload: dict) -> dict:
    """Return the payload with one field (or one field of an object in it) replaced, removed or added."""
    target = payload
    objects = [name for name, value in payload.items() if isinstance(value, dict)]
    if objects and draw(st.booleans()):
        name = draw(st.sampled_from(objects))
        target = dict(payload[name])
        return {**payload, name: draw(mutated(target))} if target else {**payload, name: draw(HOSTILE_VALUE)}
    fields = sorted(target) or ["v"]
    name = draw(st.sampled_from(fields) | st.text(max_size=5))
    if draw(st.integers(0, 4)) == 0:
        return {key: value for key, value in target.items() if key != name}
    return {**target, name: draw(HOSTILE_VALUE)}


@st.composite
def hostile_bytes(draw, payload: dict) -> bytes:
    """Bytes a rogue sender makes of a valid payload: mutated JSON, truncated, padded, or not UTF-8."""
    how = draw(st.sampled_from(["mutated", "truncated", "not utf-8", "padded", "wrapped", "deep"]))
    raw = protocol.encode(payload)
    if how == "mutated":
        return dumps(draw(mutated(payload)))
    if how == "truncated":
        return raw[: draw(st.integers(0, max(0, len(raw) - 1)))]
    if how == "not utf-8":
        at = draw(st.integers(0, len(raw)))
        return raw[:at] + draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xc0\xaf"])) + raw[at:]
    if how == "padded":
        return raw[:-1] + b',"pad":"' + b"x" * protocol.MAX_PAYLOAD_BYTES + b'"}'
    if how == "wrapped":
        return dumps(draw(st.sampled_from([[payload], payload.get("cid"), None, "text", 1])))
    return raw[:-1] + b',"deep":' + b"[" * draw(st.integers(30, 5000)) + b"]" * 5 + b"}"
