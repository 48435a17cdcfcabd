"""The `relay` command (PROTOCOL.md): a live stream played for a window, checked and turned into a Run.

A simulated cluster connects to no stream, so everything a relay needs is in the command itself;
what the codec cannot see (a window that ends before it starts, a URL no player could open) is
refused here as `malformed` before the command has any effect.
"""

from urllib.parse import urlsplit

import pa_protocol as protocol
from firmware_sim.runs import Kind, Run
from pa_protocol import Priority

# What a cluster's player can open: HTTP(S) streams (Icecast, HLS) and RTSP.
STREAM_SCHEMES = frozenset({"http", "https", "rtsp"})


def check_relay(command: dict) -> None:
    """Raise ProtocolError (`malformed`) for a relay whose window or stream URL no cluster could act on."""
    start_at, end_at = _moment(command["start_at"]), _moment(command["end_at"])
    if end_at <= start_at:
        raise protocol.ProtocolError("malformed", "end_at must be after start_at")
    problem = _url_problem(command["stream_url"])
    if problem is not None:
        raise protocol.ProtocolError("malformed", f"stream_url {problem}")


def relay_run(command: dict, order: int) -> Run:
    """Build the Run of a checked relay; its nominal length is the whole window."""
    start_at, end_at = _moment(command["start_at"]), _moment(command["end_at"])
    return Run(
        cmd_id=command["id"],
        run_id=command["run_id"],
        kind=Kind.RELAY,
        priority=Priority(command["priority"]),
        start_at=start_at,
        duration_ms=round((end_at - start_at) * 1000),
        order=order,
        volume=command.get("volume"),
        end_at=end_at,
        stream_url=command["stream_url"],
    )


def _moment(text: str) -> float:
    return protocol.parse_time(text).timestamp()


def _url_problem(url: str) -> str | None:
    """Say what is wrong with a stream URL, or return None if a player could try to open it."""
    if len(url) > protocol.MAX_STRING:
        return f"is longer than {protocol.MAX_STRING} characters"
    if any(ch.isspace() or not ch.isprintable() for ch in url):
        return "contains spaces or control characters"
    try:
        parts = urlsplit(url)
        host, _ = parts.hostname, parts.port  # .port raises on a port that is not a number
    except ValueError:
        return "is not a valid URL"
    if parts.scheme.lower() not in STREAM_SCHEMES:
        return f"must be an {', '.join(sorted(STREAM_SCHEMES))} URL"
    if not host:
        return "names no host"
    return None
