"""Fleet-wide counters for the summary line; touched only on the loop thread."""

from dataclasses import asdict, dataclass


@dataclass
class Tally:
    """Count what the fleet did; `connected` and `playing` are current, the rest are totals."""

    connected: int = 0
    playing: int = 0
    received: int = 0
    duplicates: int = 0
    ready: int = 0
    done: int = 0
    failed: int = 0
    late: int = 0
    expired: int = 0
    preempted: int = 0
    cancelled: int = 0
    rejected: int = 0
    unreadable: int = 0
    reconnects: int = 0

    def snapshot(self) -> dict:
        """Return a copy of the counters as a dict."""
        return asdict(self)

    def summary(self, clusters: int) -> str:
        """Return the one-line summary the CLI logs."""
        return (
            f"connected {self.connected}/{clusters}, playing {self.playing}, done {self.done}, "
            f"failed {self.failed}, late {self.late}, rejected {self.rejected}, unreadable {self.unreadable}"
        )
