"""The command ids a cluster has accepted, so a redelivery is never executed twice: not after a reboot, not
after the simulator restarts (PROTOCOL.md rule 1), the floor that refuses a captured command once its id is
forgotten, and the mark that refuses an old one to a clock set back (docs/protocol.md, "Replay rules").

Each id is kept with a digest of its command's content (without `kid` and `sig`) and the command's `expires_at`,
until a day after that; beyond capacity, the id whose command expires first goes. The **floor** is the highest
`expires_at` among forgotten ids: a command whose id is not remembered and whose `expires_at` is at or below it
is refused as a replay, whatever the cluster's clock says. The **mark** is the highest `issued_at` among the
commands accepted: signed by the controller, so true time is at least that; a command that expired before it is
out of date, whatever the cluster's clock says.

With a state directory each cluster keeps its ids, floor and mark in one small JSON file, `{cid}.json`. It is read
the first time the cluster handles a command after a boot (a reboot or a power cut drops what
memory held, so the ids really come back from the disk) and rewritten each time the cluster
accepts one: a temporary file, flushed and fsynced, renamed over the old one. The firmware acts
on a command, answers `received` and lets it be acknowledged only once its id is on disk
(`after_saved`); only a `stop` silences first (run twice, it silences nothing more).

The writes run on one background thread, coalesced per cluster, which hands each completion back
to the loop: a write with its fsync takes about 0.4 ms on the development machine, so a broadcast
to 10,000 clusters is 4 s of disk that would stall every heartbeat, keep-alive and start on the
loop thread. A cluster that never gets a command never touches the disk.
"""

import json
import logging
import math
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

DEFAULT_CAPACITY = 2048  # far above the commands alive at once on one cluster: eviction must only forget the expired
KEEP_AFTER_EXPIRY_S = 86_400.0  # past this the id is forgotten; its command is refused by the floor instead
FORMAT = 2
OLD_FORMAT = 1  # [id, digest, keep_until] and no floor: read, and written again as FORMAT
SET_ASIDE_SUFFIX = ".bad"


class StateFileError(ValueError):
    """A state file that cannot be read as this format; carries its path."""

    def __init__(self, path: Path, problem: str):
        super().__init__(f"{path}: {problem}")
        self.path = path


@dataclass
class _Memory:
    """What a cluster remembers: id -> (digest, expires_at), oldest first, the floor and the mark."""

    entries: OrderedDict = field(default_factory=OrderedDict)
    floor: float | None = None
    mark: float | None = None

    def forget(self, cmd_id: str) -> None:
        _, expires_at = self.entries.pop(cmd_id)
        if expires_at is not None and (self.floor is None or expires_at > self.floor):
            self.floor = expires_at


class SeenCommands:
    """Remember accepted command ids with a digest of their content, and the floor below which nothing is new.

    An id is forgotten a day after its command expired, or, beyond capacity, the one whose command expires
    first; forgetting raises the floor to its `expires_at`, so the command is still never run again. Without
    a `path` the memory stands in for the disk: it survives reboots, not the process.
    """

    def __init__(self, capacity: int = DEFAULT_CAPACITY, path: Path | None = None,
                 writer: "StateWriter | None" = None):
        self.capacity = capacity
        self.path = path
        # Only a file needs a writer; one each for 10,000 memory-only clusters cost 12 MB of locks.
        self._writer = writer if writer is not None or path is None else StateWriter()
        self._memory: _Memory | None = None if path else _Memory()

    def __len__(self) -> int:
        return len(self._loaded().entries)

    def __contains__(self, cmd_id: str) -> bool:
        return cmd_id in self._loaded().entries

    @property
    def floor(self) -> float | None:
        """Return the highest `expires_at` among forgotten ids (epoch seconds), or None if none was forgotten."""
        return self._loaded().floor

    @property
    def mark(self) -> float | None:
        """Return the highest `issued_at` among accepted commands (epoch seconds), or None before the first."""
        return self._loaded().mark

    def digest_of(self, cmd_id: str) -> str | None:
        """Return the digest recorded for `cmd_id`, or None if it was never accepted."""
        entry = self._loaded().entries.get(cmd_id)
        return entry[0] if entry is not None else None

    def below_floor(self, expires_at: float) -> bool:
        """Tell whether a command not remembered, expiring at `expires_at`, may be one this cluster forgot."""
        floor = self._loaded().floor
        return floor is not None and expires_at <= floor

    def add(self, cmd_id: str, digest: str, expires_at: float | None = None, now: float | None = None,
            issued_at: float | None = None) -> None:
        """Record an accepted command and raise the mark to its `issued_at`, forgetting ids a day past their expiry
        and, beyond capacity, the one that expires first.

        With a file, this starts saving it: wait for `after_saved` before acting on the command.
        """
        memory = self._loaded()
        if issued_at is not None and (memory.mark is None or issued_at > memory.mark):
            memory.mark = issued_at
        entries = memory.entries
        if now is not None:
            for old in [k for k, (_, until) in entries.items() if until is not None
                        and until + KEEP_AFTER_EXPIRY_S < now]:
                memory.forget(old)
        entries[cmd_id] = (digest, expires_at)
        entries.move_to_end(cmd_id)
        while len(entries) > self.capacity:
            # The first to expire, not the first to come: forgetting a long relay would raise the floor above
            # the commands still to come. An entry without expiry (tests) goes first, oldest first.
            memory.forget(min(entries, key=lambda k: -math.inf if entries[k][1] is None else entries[k][1]))
        if self.path is not None:
            seen = [[k, d, until] for k, (d, until) in entries.items()]
            document = {"v": FORMAT, "floor": memory.floor, "mark": memory.mark, "seen": seen}
            self._writer.put(self.path, json.dumps(document, separators=(",", ":")).encode())

    def after_saved(self, callback: Callable[[], None]) -> None:
        """Call `callback()` once every id added so far is on disk: at once if none is on its way there."""
        if self.path is None:
            callback()
        else:
            self._writer.after(self.path, callback)

    def reload(self) -> None:
        """Forget what memory holds (a reboot): the ids come back from the file, and from writes on their way to it."""
        if self.path is not None:
            self._memory = None

    def power_lost(self) -> None:
        """Lose memory and the write not yet begun (a power cut); a write under way still completes."""
        if self.path is not None:
            self._writer.discard(self.path)
            self._memory = None

    def _loaded(self) -> _Memory:
        if self._memory is None:
            unwritten = self._writer.unwritten(self.path)
            self._memory = _parse(self.path, unwritten) if unwritten is not None else _read(self.path)
        return self._memory


def _read(path: Path) -> _Memory:
    """Read a cluster's file; a missing one is an empty memory, a damaged one is set aside and logged."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return _Memory()
    except OSError as exc:
        log.error("cannot read %s (%s); this cluster starts with no memory of accepted commands", path, exc)
        return _Memory()
    try:
        return _parse(path, data)
    except StateFileError as exc:
        _set_aside(path, exc)
        return _Memory()


def _parse(path: Path, data: bytes) -> _Memory:
    """Return the memory a file's content holds, or raise StateFileError; the old format is read too."""
    try:
        document = json.loads(data)
    except (UnicodeDecodeError, ValueError) as exc:
        raise StateFileError(path, f"is not JSON: {exc}") from exc
    version = document.get("v") if isinstance(document, dict) else None
    if version not in (FORMAT, OLD_FORMAT):
        raise StateFileError(path, f"is in format {version!r}; this simulator reads formats {OLD_FORMAT} and {FORMAT}")
    memory = _Memory(floor=document.get("floor"), mark=document.get("mark"))  # no mark in files written before it
    for name, value in (("floor", memory.floor), ("mark", memory.mark)):
        if value is not None and (not isinstance(value, int | float) or isinstance(value, bool)):
            raise StateFileError(path, f"has a {name} {value!r} that is not a time")
    try:
        for cmd_id, digest, until in document["seen"]:
            if not isinstance(cmd_id, str) or not isinstance(digest, str) or not isinstance(until, int | float | None):
                raise TypeError(f"{[cmd_id, digest, until]!r} is not [id, digest, expires_at]")
            if version == OLD_FORMAT and until is not None:
                until -= KEEP_AFTER_EXPIRY_S  # format 1 kept the time to forget, a day after the expiry
            memory.entries[cmd_id] = (digest, until)
    except (KeyError, TypeError, ValueError) as exc:
        raise StateFileError(path, f"has no valid `seen` list: {exc}") from exc
    if version == OLD_FORMAT:
        log.info("%s is in format %d (no replay floor yet); it is written in format %d at the next command",
                 path, OLD_FORMAT, FORMAT)
    return memory


def _set_aside(path: Path, error: StateFileError) -> None:
    """Keep a damaged file for a person to look at, under another name, so the next write cannot overwrite it."""
    aside = path.with_name(path.name + SET_ASIDE_SUFFIX)
    try:
        os.replace(path, aside)
    except OSError as exc:
        log.error("%s; it cannot be set aside (%s) and will be overwritten", error, exc)
        return
    log.error("%s; set aside as %s: this cluster starts with no memory of accepted commands", error, aside.name)


@dataclass(eq=False)
class _Write:
    """One file's content on its way to disk, with what waits for it."""

    data: bytes
    callbacks: list[Callable[[], None]] = field(default_factory=list)


class StateWriter:
    """Write files durably on one background thread, and call back through `deliver` once each is on disk.

    A later put for a path replaces one not yet begun. Completions are handed to `deliver` (the loop's
    call_soon_threadsafe) in the order of the puts; until a completion has run there, `after` waits
    for it too. Without `deliver`, and after `close`, every put is written at once on the caller's thread.
    """

    def __init__(self, deliver: Callable[..., None] | None = None) -> None:
        self._deliver = deliver
        self._synchronous = deliver is None
        self._unsettled: dict[Path, list[_Write]] = {}  # put, and their callbacks not yet run
        self._pending: dict[Path, _Write] = {}  # put and not yet begun
        self._busy = False
        self._closing = False
        self._lock = threading.Condition()
        self._thread: threading.Thread | None = None

    def put(self, path: Path, data: bytes) -> None:
        """Have `path` hold `data`: at once when synchronous, else soon."""
        with self._lock:
            if not self._synchronous:
                write = self._pending.get(path)
                if write is not None:
                    write.data = data
                else:
                    write = self._pending[path] = _Write(data)
                    self._unsettled.setdefault(path, []).append(write)
                self._start_thread()
                self._lock.notify_all()
                return
        _write_durably(path, data)
        _sync_directories({path.parent})

    def after(self, path: Path, callback: Callable[[], None]) -> None:
        """Call `callback()` once everything put for `path` is on disk (at once if nothing is on its way)."""
        with self._lock:
            waiting = self._unsettled.get(path)
            if waiting:
                waiting[-1].callbacks.append(callback)
                return
        callback()

    def unwritten(self, path: Path) -> bytes | None:
        """Return what `path` is about to hold, if a put for it has not completed yet."""
        with self._lock:
            waiting = self._unsettled.get(path)
            return waiting[-1].data if waiting else None

    def discard(self, path: Path) -> None:
        """Drop the put for `path` not yet begun, and what waits for it; one under way still completes."""
        with self._lock:
            write = self._pending.pop(path, None)
            if write is not None:
                self._unsettled[path].remove(write)
                if not self._unsettled[path]:
                    del self._unsettled[path]

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything put so far is on disk; return whether it is."""
        with self._lock:
            return self._lock.wait_for(lambda: not self._pending and not self._busy, timeout)

    def close(self, timeout: float = 10.0) -> None:
        """Write what is pending and stop the thread; later puts are written at once."""
        self.flush(timeout)
        with self._lock:
            self._closing = self._synchronous = True
            self._lock.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)

    def _start_thread(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="sim-state", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            with self._lock:
                self._lock.wait_for(lambda: self._pending or self._closing)
                if not self._pending:
                    return
                batch, self._pending, self._busy = self._pending, {}, True
            for path, write in batch.items():
                _write_durably(path, write.data)
            _sync_directories({path.parent for path in batch})
            with self._lock:
                self._busy = False
                self._lock.notify_all()
            for path, write in batch.items():
                self._deliver(self._settle, path, write)

    def _settle(self, path: Path, write: _Write) -> None:
        """Run what waited for `write` (on the thread `deliver` hands it to)."""
        with self._lock:
            waiting = self._unsettled.get(path, [])
            if write in waiting:
                waiting.remove(write)
            if not waiting:
                self._unsettled.pop(path, None)
        for callback in write.callbacks:
            callback()


def _write_durably(path: Path, data: bytes) -> None:
    """Write a temporary file, flush and fsync it, and rename it over `path`: the file is whole, old or new."""
    temporary = path.with_name(path.name + ".tmp")
    try:
        with open(temporary, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except OSError as exc:
        log.error("cannot save %s (%s): its cluster keeps the ids in memory only", path, exc)


def _sync_directories(directories: set[Path]) -> None:
    """Make the renames durable too: fsync each directory once for a batch of writes."""
    for directory in directories:
        try:
            handle = os.open(directory, os.O_RDONLY)
        except OSError:
            continue
        try:
            os.fsync(handle)
        finally:
            os.close(handle)


class SeenStore:
    """Hand each cluster its SeenCommands: backed by `{directory}/{cid}.json`, or in memory without a directory.

    `deliver` runs the completions of writes (the loop's call_soon_threadsafe); without it, writes are
    synchronous, on the thread that accepts the command.
    """

    def __init__(self, directory: str | Path | None = None, deliver: Callable[..., None] | None = None):
        self.directory = Path(directory) if directory is not None else None
        self._writer = StateWriter(deliver) if self.directory is not None else None
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
