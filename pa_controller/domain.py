"""The domain's named values: the only home of priorities, states and statuses."""

from enum import StrEnum


class Priority(StrEnum):
    """The three levels of Thông tư 39/2020/TT-BTTTT, lowest first."""

    NORMAL = "normal"
    PRIORITY = "priority"
    EMERGENCY = "emergency"

    @property
    def rank(self) -> int:
        return list(Priority).index(self)


class ProgrammeKind(StrEnum):
    """What a broadcast sounds: recorded audio, or a live stream relayed for a window."""

    PLAY = "play"
    RELAY = "relay"


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


class DeliveryState(StrEnum):
    """Where one (run, cluster) stands: the protocol's event states plus our own two."""

    PENDING = "pending"
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
    MISSED = "missed"

    @property
    def is_final(self) -> bool:
        return self in FINAL_DELIVERY_STATES

    @property
    def progress(self) -> int:
        """Order in which states may follow each other; a lower one never overwrites a higher one."""
        return _PROGRESS.get(self, 10)


FINAL_DELIVERY_STATES = frozenset(
    {
        DeliveryState.DONE,
        DeliveryState.FAILED,
        DeliveryState.LATE,
        DeliveryState.EXPIRED,
        DeliveryState.PREEMPTED,
        DeliveryState.CANCELLED,
        DeliveryState.REJECTED,
        DeliveryState.MISSED,
    }
)

_PROGRESS = {
    DeliveryState.PENDING: 0,
    DeliveryState.RECEIVED: 1,
    DeliveryState.READY: 2,
    DeliveryState.PLAYING: 3,
}


class RunState(StrEnum):
    SCHEDULED = "scheduled"
    DISPATCHED = "dispatched"
    FINISHED = "finished"
    CANCELLED = "cancelled"
    MISSED = "missed"


class ClusterStatus(StrEnum):
    ONLINE = "online"
    STALE = "stale"
    OFFLINE = "offline"
    UNKNOWN = "unknown"


class OutageCause(StrEnum):
    """Why the controller judged a cluster offline."""

    DISCONNECTED = "disconnected"  # its will arrived
    SILENT = "silent"  # no heartbeat for 3 intervals


class IncidentKind(StrEnum):
    """What a technician is told about: an outage, a ward-wide outage (power cut), a speaker or amplifier fault."""

    CLUSTER_OFFLINE = "cluster_offline"
    WARD_OUTAGE = "ward_outage"
    SPEAKER_FAULT = "speaker_fault"
    AMPLIFIER_FAULT = "amplifier_fault"


class Role(StrEnum):
    ADMIN = "admin"
    OFFICER = "officer"
    TECHNICIAN = "technician"

    @property
    def schedules(self) -> bool:
        """Uploads audio and schedules broadcasts (an officer for their own ward)."""
        return self in (Role.ADMIN, Role.OFFICER)

    @property
    def tends_fleet(self) -> bool:
        """Sends remote commands to clusters and handles incidents."""
        return self in (Role.ADMIN, Role.TECHNICIAN)
