"""The states the controller's HTTP API reports (../shared/API.md), for clients that read them back."""

from enum import StrEnum


class DeliveryState(StrEnum):
    """Where one (run, cluster) stands: the protocol's event states plus the controller's own two."""

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
