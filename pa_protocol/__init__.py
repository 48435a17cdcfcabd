"""LoaNet's loudspeaker cluster protocol, version 1: what the controller and a cluster's firmware share.

`topics` names the channels, `codec` encodes and validates payloads, `times` renders and parses times,
`enums` holds the values payloads carry, and `api_states` the states the controller's HTTP API reports.
It imports only the standard library, so a firmware takes this package and docs/protocol.md, nothing
else. Every public name is here too: `import pa_protocol as protocol; protocol.decode(...)`.

`pa_protocol.signing` (Ed25519 signatures, key ids, key entries, the key ring) needs the `cryptography`
package; this package does not import it: `from pa_protocol.signing import sign_command`.
"""

from pa_protocol.api_states import FINAL_DELIVERY_STATES, DeliveryState, RunState
from pa_protocol.codec import MAX_DEPTH, MAX_PAYLOAD_BYTES, MAX_STRING, VERSION, canonical, decode, encode
from pa_protocol.enums import CommandType, EventState, HeartbeatState, Priority, RejectReason
from pa_protocol.errors import ProtocolError
from pa_protocol.times import format_time, parse_time
from pa_protocol.topics import (
    CID_PATTERN,
    CMD,
    DEFAULT_ROOT,
    EVENTS,
    HEARTBEAT,
    QOS,
    STATUS,
    TOPIC_KINDS,
    parse_topic,
    topic,
    wildcard,
)

__all__ = [
    "CID_PATTERN",
    "CMD",
    "DEFAULT_ROOT",
    "EVENTS",
    "FINAL_DELIVERY_STATES",
    "HEARTBEAT",
    "MAX_DEPTH",
    "MAX_PAYLOAD_BYTES",
    "MAX_STRING",
    "QOS",
    "STATUS",
    "TOPIC_KINDS",
    "VERSION",
    "CommandType",
    "DeliveryState",
    "EventState",
    "HeartbeatState",
    "Priority",
    "ProtocolError",
    "RejectReason",
    "RunState",
    "canonical",
    "decode",
    "encode",
    "format_time",
    "parse_time",
    "parse_topic",
    "topic",
    "wildcard",
]
