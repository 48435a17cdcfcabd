"""The named values that travel in payloads (PROTOCOL.md): priorities, command types, event and heartbeat states."""

from enum import StrEnum


class Priority(StrEnum):
    """The three levels of Thông tư 39/2020/TT-BTTTT, lowest first."""

    NORMAL = "normal"
    PRIORITY = "priority"
    EMERGENCY = "emergency"

    @property
    def rank(self) -> int:
        return list(Priority).index(self)


class CommandType(StrEnum):
    PLAY = "play"
    RELAY = "relay"
    CANCEL = "cancel"
    STOP = "stop"
    SET_VOLUME = "set_volume"
    TEST_TONE = "test_tone"
    REBOOT = "reboot"


class EventState(StrEnum):
    """What a cluster reports about a command (PROTOCOL.md, Event)."""

    RECEIVED = "received"
    READY = "ready"
    LATE = "late"
    PLAYING = "playing"
    DONE = "done"
    FAILED = "failed"
    EXPIRED = "expired"
    PREEMPTED = "preempted"
    CANCELLED = "cancelled"
    REJECTED = "rejected"


class HeartbeatState(StrEnum):
    """What a cluster's speakers are doing, as its heartbeat says."""

    IDLE = "idle"
    ARMED = "armed"  # a verified run waits for its start_at
    PLAYING = "playing"


class RejectReason(StrEnum):
    """Why a cluster rejected a command: `detail.reason` of a `rejected` event (PROTOCOL.md, Event)."""

    BAD_SIGNATURE = "bad_signature"
    UNSIGNED = "unsigned"
    REPLAY = "replay"
    EXPIRED = "expired"
    WRONG_CLUSTER = "wrong_cluster"
    MALFORMED = "malformed"
    UNSUPPORTED = "unsupported"
