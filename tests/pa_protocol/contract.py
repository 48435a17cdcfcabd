"""What docs/protocol.md ("Validation") promises of every payload a receiver accepts, checked apart from the codec."""

import json
import math
import re

import pa_protocol as protocol
from pa_protocol import CommandType, EventState, HeartbeatState, Priority

TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})")
REASONS = {"malformed", "wrong_cluster", "unsupported"}
TEXT, INT, NUMBER, BOOL, OPT_TEXT, OBJECT, LIST = "text", "int", "number", "bool", "text?", "object", "list"
FIELDS = {
    protocol.STATUS: {"online": (BOOL, True), "boot_id": (TEXT, True), "conn": (INT, False), "fw": (TEXT, False),
                      "at": (TEXT, True)},
    protocol.HEARTBEAT: {"at": (TEXT, True), "boot_id": (TEXT, True), "seq": (INT, True), "state": (TEXT, True),
                         "uptime_s": (NUMBER, False), "playing": (OPT_TEXT, False), "armed": (LIST, False),
                         "volume": (INT, False), "rssi_dbm": (NUMBER, False), "temp_c": (NUMBER, False),
                         "speakers_ok": (INT, False), "speakers_total": (INT, False), "amp_ok": (BOOL, False),
                         "fw": (TEXT, False)},
    protocol.EVENTS: {"cmd_id": (TEXT, True), "run_id": (OPT_TEXT, False), "state": (TEXT, True), "at": (TEXT, True),
                      "detail": ("object?", False)},
    protocol.CMD: {"id": (TEXT, True), "type": (TEXT, True), "issued_at": (TEXT, True), "expires_at": (TEXT, True),
                   "kid": (OPT_TEXT, False), "sig": (OPT_TEXT, False)},
}
RUN = {"run_id": (TEXT, True), "title": (TEXT, True), "priority": (TEXT, True), "start_at": (TEXT, True),
       "volume": (INT, False)}
COMMAND_FIELDS = {
    CommandType.PLAY: {**RUN, "duration_ms": (INT, True), "audio": (OBJECT, True)},
    CommandType.RELAY: {**RUN, "end_at": (TEXT, True), "stream_url": (TEXT, True)},
    CommandType.CANCEL: {"run_id": (TEXT, True)},
    CommandType.STOP: {"max_priority": (TEXT, False)},
    CommandType.SET_VOLUME: {"volume": (INT, True)},
    CommandType.TEST_TONE: {"duration_ms": (INT, True)},
    CommandType.REBOOT: {},
}
AUDIO = {"url": (TEXT, True), "sha256": (TEXT, True), "bytes": (INT, True)}


def has_type(value, kind: str) -> bool:
    if kind.endswith("?") and value is None:
        return True
    kind = kind.rstrip("?")
    if kind == TEXT:
        return isinstance(value, str) and "\x00" not in value and len(value) <= protocol.MAX_STRING
    if kind == INT:
        return type(value) is int and -(2**31) <= value < 2**31
    if kind == NUMBER:
        return has_type(value, INT) or (type(value) is float and math.isfinite(value))
    if kind == BOOL:
        return type(value) is bool
    return isinstance(value, {OBJECT: dict, LIST: list}[kind])


def check_fields(payload: dict, fields: dict) -> None:
    for name, (kind, required) in fields.items():
        assert name in payload or not required, f"required {name} missing"
        if name in payload:
            assert has_type(payload[name], kind), f"{name} is not {kind}: {payload[name]!r}"


def depth(value) -> int:
    inner = value.values() if isinstance(value, dict) else value if isinstance(value, list) else None
    return 0 if inner is None else 1 + max((depth(item) for item in inner), default=0)


def assert_conforms(kind: str, cid: str, payload) -> None:
    """Fail unless `payload` is what the contract lets a receiver accept on `kind` of cluster `cid`."""
    assert isinstance(payload, dict)
    assert payload.get("v") == 1 and type(payload["v"]) is int and payload.get("cid") == cid
    assert depth(payload) <= protocol.MAX_DEPTH
    text = json.dumps(payload, ensure_ascii=False, allow_nan=False)  # standard JSON: no NaN, no Infinity
    assert len(text.encode("utf-8")) <= 2 * protocol.MAX_PAYLOAD_BYTES  # valid UTF-8 (no lone surrogate), bounded
    check_fields(payload, FIELDS[kind])
    if kind == protocol.STATUS:
        assert payload.get("conn", 1) >= 1
    if kind == protocol.HEARTBEAT:
        assert payload["state"] in set(HeartbeatState)
    if kind == protocol.EVENTS:
        assert payload["state"] in set(EventState)
    if kind == protocol.CMD:
        ctype = CommandType(payload["type"])
        check_fields(payload, COMMAND_FIELDS[ctype])
        if ctype is CommandType.PLAY:
            check_fields(payload["audio"], AUDIO)
        for name in ("priority", "max_priority"):
            assert name not in payload or payload[name] in set(Priority)
        assert 0 <= payload.get("volume", 0) <= 100
    for name in ("at", "issued_at", "expires_at", "start_at", "end_at"):
        if name in payload:
            assert TIME.fullmatch(payload[name]), payload[name]
            assert protocol.parse_time(payload[name]).utcoffset().total_seconds() == 0
