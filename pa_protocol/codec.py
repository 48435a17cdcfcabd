"""Payloads: compact UTF-8 JSON out, and in only what the contract allows (PROTOCOL.md, docs/protocol.md)."""

import json
import math

from pa_protocol.enums import CommandType, EventState, HeartbeatState, Priority
from pa_protocol.errors import ProtocolError
from pa_protocol.times import parse_time
from pa_protocol.topics import CMD, EVENTS, HEARTBEAT, STATUS

VERSION = 1
MAX_PAYLOAD_BYTES = 16 * 1024
MAX_STRING = 1024
MAX_DEPTH = 32  # levels of objects and arrays, the payload itself the first; a command needs 2, an event 3


def encode(payload: dict) -> bytes:
    """Serialise a payload compactly as UTF-8 JSON."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def canonical(payload: dict) -> bytes:
    """Return the bytes a command signature covers: sorted keys, no spaces, no `sig`."""
    body = {k: v for k, v in payload.items() if k != "sig"}
    return json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


# Field specs: name -> (type check, required)
_STR = (str,)
_INT = (int,)
_NUM = (int, float)
_BOOL = (bool,)
_OPT_STR = (str, type(None))

_COMMON = {"v": (_INT, True), "cid": (_STR, True)}
_SPECS: dict[str, dict] = {
    STATUS: {"online": (_BOOL, True), "boot_id": (_STR, True), "conn": (_INT, False), "fw": (_STR, False),
             "at": (_STR, True)},
    HEARTBEAT: {
        "at": (_STR, True),
        "boot_id": (_STR, True),
        "seq": (_INT, True),
        "uptime_s": (_NUM, False),
        "state": (_STR, True),
        "playing": (_OPT_STR, False),
        "armed": ((list,), False),
        "volume": (_INT, False),
        "rssi_dbm": (_NUM, False),
        "temp_c": (_NUM, False),
        "speakers_ok": (_INT, False),
        "speakers_total": (_INT, False),
        "amp_ok": (_BOOL, False),
        "fw": (_STR, False),
    },
    EVENTS: {
        "cmd_id": (_STR, True),
        "run_id": (_OPT_STR, False),
        "state": (_STR, True),
        "at": (_STR, True),
        "detail": ((dict, type(None)), False),
    },
    CMD: {
        "id": (_STR, True),
        "type": (_STR, True),
        "issued_at": (_STR, True),
        "expires_at": (_STR, True),
        "kid": (_OPT_STR, False),
        "sig": (_OPT_STR, False),
    },
}
_COMMAND_FIELDS = {
    CommandType.PLAY: {
        "run_id": (_STR, True),
        "title": (_STR, True),
        "priority": (_STR, True),
        "start_at": (_STR, True),
        "duration_ms": (_INT, True),
        "audio": ((dict,), True),
        "volume": (_INT, False),
    },
    CommandType.RELAY: {
        "run_id": (_STR, True),
        "title": (_STR, True),
        "priority": (_STR, True),
        "start_at": (_STR, True),
        "end_at": (_STR, True),
        "stream_url": (_STR, True),
        "volume": (_INT, False),
    },
    CommandType.CANCEL: {"run_id": (_STR, True)},
    CommandType.STOP: {"max_priority": (_STR, False)},
    CommandType.SET_VOLUME: {"volume": (_INT, True)},
    CommandType.TEST_TONE: {"duration_ms": (_INT, True)},
    CommandType.REBOOT: {},
}
_AUDIO_FIELDS = {"url": (_STR, True), "sha256": (_STR, True), "bytes": (_INT, True)}
_TIME_FIELDS = ("at", "issued_at", "expires_at", "start_at", "end_at")


def _check_fields(payload: dict, spec: dict, where: str) -> None:
    for name, (types, required) in spec.items():
        if name not in payload:
            if required:
                raise ProtocolError("malformed", f"{where}: required field {name!r} is missing")
            continue
        value = payload[name]
        # bool is an int in Python; a JSON true is never a valid number here.
        if isinstance(value, bool) and bool not in types:
            raise ProtocolError("malformed", f"{where}: field {name!r} has the wrong type")
        if not isinstance(value, types):
            raise ProtocolError("malformed", f"{where}: field {name!r} has the wrong type")
        _check_bounds(name, value, where)


def _check_bounds(name: str, value, where: str) -> None:
    """Refuse what no receiver could store: NUL characters, huge strings, integers beyond 32 bits."""
    if isinstance(value, str) and ("\x00" in value or len(value) > MAX_STRING):
        raise ProtocolError("malformed", f"{where}: field {name!r} is too long or contains NUL")
    if isinstance(value, int) and not isinstance(value, bool) and not -(2**31) <= value < 2**31:
        raise ProtocolError("malformed", f"{where}: field {name!r} is out of range")
    if isinstance(value, float) and not math.isfinite(value):
        raise ProtocolError("malformed", f"{where}: field {name!r} is not a finite number")


def decode(kind: str, cid: str, raw: bytes) -> dict:
    """Parse and validate one payload received on `kind` for cluster `cid`.

    Returns the payload as a dict with times still as strings; raises
    ProtocolError (reason `malformed`, `wrong_cluster` or `unsupported`).
    """
    if len(raw) > MAX_PAYLOAD_BYTES:
        raise ProtocolError("malformed", f"payload of {len(raw)} bytes exceeds {MAX_PAYLOAD_BYTES}")
    try:
        payload = json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant, parse_float=_finite)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ProtocolError("malformed", f"payload is not UTF-8 JSON: {exc}") from exc
    if not isinstance(payload, dict):
        raise ProtocolError("malformed", "payload is not a JSON object")
    if _deeper_than(payload, MAX_DEPTH):
        raise ProtocolError("malformed", f"payload is nested deeper than {MAX_DEPTH} levels")
    try:
        encode(payload)  # a \ud800 escape is JSON, but no text: it could be neither stored nor sent on
    except UnicodeEncodeError as exc:
        raise ProtocolError("malformed", "payload holds a lone surrogate, which is not Unicode text") from exc
    _check_fields(payload, _COMMON, kind)
    if payload["v"] != VERSION:
        raise ProtocolError("unsupported", f"protocol version {payload['v']!r} is not {VERSION}")
    if payload["cid"] != cid:
        raise ProtocolError("wrong_cluster", f"payload for {payload['cid']!r} arrived on the topic of {cid!r}")
    _check_fields(payload, _SPECS[kind], kind)
    if kind == STATUS and payload.get("conn", 1) < 1:
        raise ProtocolError("malformed", "status conn counts connections from 1")
    if kind == HEARTBEAT and payload["state"] not in HeartbeatState._value2member_map_:
        raise ProtocolError("malformed", f"heartbeat state {payload['state']!r} is unknown")
    if kind == EVENTS and payload["state"] not in EventState._value2member_map_:
        raise ProtocolError("malformed", f"event state {payload['state']!r} is unknown")
    if kind == CMD:
        _check_command(payload)
    for name in _TIME_FIELDS:
        if name in payload:
            parse_time(payload[name])
    return payload


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    """Read a JSON number with a fraction or exponent; one too large for a double (1e999) is refused, not infinity."""
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:20]} is out of range")
    return value


def _deeper_than(payload: dict, limit: int) -> bool:
    """Tell whether objects and arrays nest deeper than `limit`; without recursion, so any depth is safe to ask."""
    stack = [(payload, 1)]
    while stack:
        value, depth = stack.pop()
        inner = value.values() if isinstance(value, dict) else value if isinstance(value, list) else None
        if inner is None:
            continue
        if depth > limit:
            return True
        stack.extend((item, depth + 1) for item in inner)
    return False


def _check_command(payload: dict) -> None:
    try:
        ctype = CommandType(payload["type"])
    except ValueError as exc:
        raise ProtocolError("unsupported", f"command type {payload['type']!r} is unknown") from exc
    _check_fields(payload, _COMMAND_FIELDS[ctype], f"cmd {ctype.value}")
    for name in ("priority", "max_priority"):
        if name in payload and payload[name] not in Priority._value2member_map_:
            raise ProtocolError("malformed", f"{name} {payload[name]!r} is not a priority")
    if ctype is CommandType.PLAY:
        _check_fields(payload["audio"], _AUDIO_FIELDS, "cmd play audio")
    if "volume" in payload and not 0 <= payload["volume"] <= 100:
        raise ProtocolError("malformed", "volume must be 0–100")
