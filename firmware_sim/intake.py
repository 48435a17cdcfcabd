"""Command intake (PROTOCOL.md): decode and check a payload, and read what can still be read of one that fails."""

import hashlib
import json

import pa_protocol as protocol
from firmware_sim.relay import check_relay
from pa_protocol import CommandType


def read_command(cid: str, raw: bytes) -> dict:
    """Decode a command payload addressed to `cid` and refuse values no cluster can act on; raise ProtocolError."""
    command = protocol.decode(protocol.CMD, cid, raw)
    if command["type"] == CommandType.RELAY:
        check_relay(command)
    if "duration_ms" in command and command["duration_ms"] <= 0:
        raise protocol.ProtocolError("malformed", "duration_ms must be positive")
    audio = command.get("audio")
    if isinstance(audio, dict) and audio["bytes"] <= 0:
        raise protocol.ProtocolError("malformed", "audio.bytes must be positive")
    return command


def content_digest(command: dict) -> str:
    """Return the digest that tells a redelivery (same content) from a replay (same id, other content).

    It leaves out `kid` and `sig`: the same command signed again after a key rotation is a redelivery.
    """
    content = {name: value for name, value in command.items() if name not in ("kid", "sig")}
    return hashlib.sha256(protocol.canonical(content)).hexdigest()


def readable_ids(raw: bytes) -> tuple[str | None, str | None]:
    """Return (id, run_id) of a payload that failed validation, where they can still be read and sent back in an
    event: text the codec allows (no NUL, no lone surrogate, at most MAX_STRING characters)."""
    if len(raw) > protocol.MAX_PAYLOAD_BYTES:
        return None, None
    try:
        payload = json.loads(raw)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None, None
    if not isinstance(payload, dict):
        return None, None
    return _sendable(payload.get("id")) or None, _sendable(payload.get("run_id"))


def _sendable(value) -> str | None:
    if not isinstance(value, str) or len(value) > protocol.MAX_STRING or "\x00" in value:
        return None
    try:
        value.encode()
    except UnicodeEncodeError:
        return None
    return value


def message_key(raw: bytes) -> str:
    """Name a command payload for the draws of the link's faults: its id, else a digest of its bytes."""
    cmd_id, _ = readable_ids(raw)
    return cmd_id if cmd_id is not None else hashlib.sha256(raw).hexdigest()[:32]
