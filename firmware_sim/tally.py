"""Fleet-wide counters for the summary line; touched only on the loop thread."""

from dataclasses import asdict, dataclass


@dataclass
class Tally:
    """Count what the fleet did; `connected`, `playing` and `faults_active` are current, the rest are totals.

    The faults_* counters count fault periods on single clusters: a power cut of a 58-cluster ward
    is 58, a flap of 3 cycles on one cluster is 3. `lost` counts messages a flaky link lost (each
    lost command or event also broke the connection, so it was delivered again); `ignored` counts
    commands a hung (silent) cluster left unhandled, to handle once it recovers.
    """

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
    lost: int = 0
    ignored: int = 0
    faults_planned: int = 0
    faults_applied: int = 0
    faults_active: int = 0

    def snapshot(self) -> dict:
        """Return a copy of the counters as a dict."""
        return asdict(self)

    def summary(self, clusters: int) -> str:
        """Return the one-line summary the CLI logs; faults appear once a scenario plans any."""
        line = (
            f"connected {self.connected}/{clusters}, playing {self.playing}, done {self.done}, "
            f"failed {self.failed}, late {self.late}, rejected {self.rejected}, unreadable {self.unreadable}"
        )
        if self.faults_planned:
            line += (f", faults active {self.faults_active}, applied {self.faults_applied}/{self.faults_planned}, "
                     f"lost {self.lost}, ignored {self.ignored}")
        return line
