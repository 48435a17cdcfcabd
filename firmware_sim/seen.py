"""The command ids a cluster has accepted, so a redelivery is never executed twice."""

from collections import OrderedDict

DEFAULT_CAPACITY = 2048


class SeenCommands:
    """Remember accepted command ids with a digest of their content, oldest forgotten first.

    Kept in memory for now; it is its own object so a later issue can persist it
    across reboots of a real process without touching the firmware.
    """

    def __init__(self, capacity: int = DEFAULT_CAPACITY):
        self.capacity = capacity
        self._digests: OrderedDict[str, str] = OrderedDict()

    def __len__(self) -> int:
        return len(self._digests)

    def __contains__(self, cmd_id: str) -> bool:
        return cmd_id in self._digests

    def digest_of(self, cmd_id: str) -> str | None:
        """Return the digest recorded for `cmd_id`, or None if it was never accepted."""
        return self._digests.get(cmd_id)

    def add(self, cmd_id: str, digest: str) -> None:
        """Record an accepted command, forgetting the oldest beyond capacity."""
        self._digests[cmd_id] = digest
        self._digests.move_to_end(cmd_id)
        while len(self._digests) > self.capacity:
            self._digests.popitem(last=False)
