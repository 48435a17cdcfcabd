"""Topics: one cluster's four channels under a root, and the QoS each is sent with."""

import re

from pa_protocol.errors import ProtocolError

DEFAULT_ROOT = "pa/v1"
CID_PATTERN = re.compile(r"^[a-z0-9-]{1,32}\Z")  # \Z, not $: `$` lets a trailing newline in

CMD, STATUS, HEARTBEAT, EVENTS = "cmd", "status", "heartbeat", "events"
TOPIC_KINDS = (CMD, STATUS, HEARTBEAT, EVENTS)
QOS = {CMD: 1, STATUS: 1, HEARTBEAT: 0, EVENTS: 1}


def topic(root: str, cid: str, kind: str) -> str:
    """Return the topic of one cluster's channel."""
    return f"{root}/clusters/{cid}/{kind}"


def wildcard(root: str, kind: str) -> str:
    """Return the subscription that matches one channel of every cluster."""
    return f"{root}/clusters/+/{kind}"


def parse_topic(root: str, name: str) -> tuple[str, str]:
    """Split a topic into (cid, kind) or raise ProtocolError."""
    prefix = f"{root}/clusters/"
    if not name.startswith(prefix):
        raise ProtocolError("malformed", f"topic {name!r} is not under {prefix}")
    parts = name[len(prefix) :].split("/")
    if len(parts) != 2 or parts[1] not in TOPIC_KINDS or not CID_PATTERN.match(parts[0]):
        raise ProtocolError("malformed", f"topic {name!r} is not a cluster channel")
    return parts[0], parts[1]
