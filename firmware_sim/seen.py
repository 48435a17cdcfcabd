"""The command ids a cluster has accepted, so a redelivery is never executed twice: not after a reboot, not
after the simulator restarts (PROTOCOL.md rule 1).

With a state directory each cluster keeps its ids in one small JSON file, `{cid}.json`, read the
first time the cluster handles a command and rewritten (temp file, then rename) each time it
accepts one. The writes happen on one background thread, coalesced per cluster, so the loop never
waits on the disk; a cluster that never gets a command never touches it.
"""

import json
import logging
import os
import threading
from collections import OrderedDict
from pathlib import Path

log = logging.getLogger(__name__)

DEFAULT_CAPACITY = 2048
KEEP_AFTER_EXPIRY_S = 86_400.0  # past this, a redelivery is answered `expired` instead, and still never run
DEFAULT_STATE_DIR = Path("instance/sim-state")
FORMAT = 1


class SeenCommands:
    """Remember accepted command ids with a digest of their content, oldest forgotten first.

    An id is also forgotten a day after its command expired: a redelivery after that is refused as
    expired, so it still cannot run twice, and the file stays a few lines long.
    """

    def __init__(self, capacity: int = DEFAULT_CAPACITY, path: Path | None = None,
                 writer: "StateWriter | None" = None):
        self.capacity = capacity
        self.path = path
        self._writer = writer
        self._entries: OrderedDict[str, tuple[str, float | None]] | None = None if path else OrderedDict()

    def __len__(self) -> int:
        return len(self._loaded())

    def __contains__(self, cmd_id: str) -> bool:
        return cmd_id in self._loaded()

    def digest_of(self, cmd_id: str) -> str | None:
        """Return the digest recorded for `cmd_id`, or None if it was never accepted."""
        entry = self._loaded().get(cmd_id)
        return entry[0] if entry is not None else None

    def add(self, cmd_id: str, digest: str, keep_until: float | None = None, now: float | None = None) -> None:
        """Record an accepted command, forgetting ids kept past `keep_until` and the oldest beyond capacity."""
        entries = self._loaded()
        if now is not None:
            for old in [k for k, (_, until) in entries.items() if until is not None and until < now]:
                del entries[old]
        entries[cmd_id] = (digest, keep_until)
        entries.move_to_end(cmd_id)
        while len(entries) > self.capacity:
            entries.popitem(last=False)
        if self.path is not None and self._writer is not None:
            seen = [[k, d, until] for k, (d, until) in entries.items()]
            self._writer.put(self.path, json.dumps({"v": FORMAT, "seen": seen}, separators=(",", ":")).encode())

    def _loaded(self) -> OrderedDict:
        if self._entries is None:
            self._entries = _read(self.path)
        return self._entries


def _read(path: Path) -> OrderedDict:
    """Read a cluster's file; a missing one is an empty memory, a damaged one is logged and set aside."""
    try:
        document = json.loads(path.read_bytes())
        return OrderedDict((k, (d, until)) for k, d, until in document["seen"])
    except FileNotFoundError:
        return OrderedDict()
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.error("%s is unreadable (%s); this cluster starts with no memory of accepted commands", path, exc)
        return OrderedDict()


class StateWriter:
    """Write files atomically on one background thread, keeping only the newest content per path."""

    def __init__(self) -> None:
        self._pending: dict[Path, bytes] = {}
        self._busy = False
        self._closing = False
        self._lock = threading.Condition()
        self._thread: threading.Thread | None = None

    def put(self, path: Path, data: bytes) -> None:
        """Have `path` hold `data` soon; a later put for the same path replaces an unwritten one."""
        with self._lock:
            self._pending[path] = data
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="sim-state", daemon=True)
                self._thread.start()
            self._lock.notify_all()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything put so far is on disk; return whether it is."""
        with self._lock:
            return self._lock.wait_for(lambda: not self._pending and not self._busy, timeout)

    def close(self, timeout: float = 10.0) -> None:
        """Write what is pending and stop the thread."""
        self.flush(timeout)
        with self._lock:
            self._closing = True
            self._lock.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._lock:
                self._lock.wait_for(lambda: self._pending or self._closing)
                if not self._pending:
                    return
                batch, self._pending, self._busy = self._pending, {}, True
            for path, data in batch.items():
                _write_atomically(path, data)
            with self._lock:
                self._busy = False
                self._lock.notify_all()


def _write_atomically(path: Path, data: bytes) -> None:
    temporary = path.with_name(path.name + ".tmp")
    try:
        temporary.write_bytes(data)
        os.replace(temporary, path)
    except OSError as exc:
        log.error("cannot save %s: %s", path, exc)


class SeenStore:
    """Hand each cluster its SeenCommands: backed by `{directory}/{cid}.json`, or in memory without a directory."""

    def __init__(self, directory: str | Path | None = None):
        self.directory = Path(directory) if directory is not None else None
        self._writer = StateWriter() if self.directory is not None else None
        if self.directory is not None:
            self.directory.mkdir(parents=True, exist_ok=True)

    def open(self, cid: str) -> SeenCommands:
        """Return the memory of one cluster (its file is read only when it first handles a command)."""
        if self.directory is None:
            return SeenCommands()
        return SeenCommands(path=self.directory / f"{cid}.json", writer=self._writer)

    def flush(self) -> bool:
        """Wait until every accepted id is on disk."""
        return self._writer.flush() if self._writer is not None else True

    def close(self) -> None:
        """Write what is pending and stop the writer."""
        if self._writer is not None:
            self._writer.close()
