"""The controller's command keys as a simulator process holds them: provisioned, learned from the key list, kept.

A real cluster holds a ring of its own; the simulator keeps one per process, shared by all its clusters (they
would all learn the same keys at the same moments), in `{state_dir}/command-keys.json`, so a restart keeps what
it learned and a reboot of one cluster loses nothing.

- Provisioning: key entries (a file in the shape of `GET /api/v1/keys/commands`, or a `KeyRing`) are trusted
  as they stand, the way a factory flashes the anchor at enrolment. With a key list URL and nothing else, the
  first list fetched is trusted so (it stands in for that provisioning; docs/protocol.md says what that costs).
- Learning: every `refresh_s`, and when a command names a key the ring does not know, the list is fetched
  again and the ring learns only what the chain of keys it trusts endorses (`KeyRing.learn`).
- Fetches run on a thread of their own and hand the new ring to the loop (`deliver`): the loop thread never
  waits on HTTP. One fetch at a time, at least `min_gap_s` apart, so a flood of commands naming unknown keys
  costs the controller one request per gap. Whatever the answer (an HTTP error, not JSON, nested too deep, too
  big, entries of the wrong types), the fetch ends and is delivered: a failed fetch is logged and leaves the ring.
"""

import json
import logging
import math
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import requests
import urllib3

from firmware_sim.timers import Timer, Timers
from pa_protocol import ProtocolError
from pa_protocol.key_chain import KeyRing, read_key, sooner
from pa_protocol.signing import Refusal

log = logging.getLogger(__name__)

KEYS_FILE = "command-keys.json"
REFRESH_S = 600.0
MIN_FETCH_GAP_S = 5.0
FETCH_TIMEOUT_S = 5.0
KEY_LIST_PATH = "/api/v1/keys/commands"
MAX_LIST_BYTES = 1 << 20  # a thousand entries (key_chain.MAX_ENTRIES) take under 400 kB
KEPT_FORMAT = 2  # {"v": 2, "keys": [{seq, id, public_key, not_after?}]}; format 1, a bare list without seq, is old


class KeysError(ValueError):
    """Keys that cannot be had: no source given, a key file or key list that cannot be read; says what to do."""


def read_key_file(path: str | Path) -> list:
    """Return the entries of a key file (the JSON of GET /api/v1/keys/commands); raise KeysError."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise KeysError(f"cannot read the key file {path}: {exc.strerror}") from exc
    return _entries(data, str(path))


def fetch_key_list(url: str, timeout: float = FETCH_TIMEOUT_S) -> list:
    """Return the entries the controller publishes at `url`; raise KeysError."""
    try:
        with requests.get(url, timeout=timeout, stream=True) as answer:
            if answer.status_code != 200:
                raise KeysError(f"{url} answered HTTP {answer.status_code}, not the key list")
            data = answer.raw.read(MAX_LIST_BYTES + 1, decode_content=True)
    except (requests.RequestException, urllib3.exceptions.HTTPError) as exc:
        raise KeysError(f"cannot fetch the key list from {url}: {exc}") from exc
    return _entries(data, url)


def _entries(data: bytes, where: str) -> list:
    """Parse a key list: a JSON array (its entries are judged one by one when they are read)."""
    if len(data) > MAX_LIST_BYTES:
        raise KeysError(f"{where} holds more than {MAX_LIST_BYTES} bytes: not a key list")
    try:
        document = json.loads(data)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise KeysError(f"{where} is not JSON: {type(exc).__name__}") from exc
    if not isinstance(document, list):
        raise KeysError(f"{where} is not a list of key entries like GET {KEY_LIST_PATH} answers")
    return document


def _in_thread(work: Callable[[], None]) -> None:
    threading.Thread(target=work, name="sim-keys", daemon=True).start()


class CommandKeys:
    """The ring of keys the clusters of one process trust, and the fetches that teach it.

    `keys`: entries or a KeyRing, trusted as provisioned; `url`: the controller's key list; at least one
    (KeysError otherwise). `path` keeps the ring across restarts. Until `start`, nothing is fetched.
    """

    def __init__(self, keys: Iterable[Mapping] | KeyRing | None = None, url: str | None = None,
                 path: str | Path | None = None, refresh_s: float = REFRESH_S, min_gap_s: float = MIN_FETCH_GAP_S,
                 fetch: Callable[[str], list[dict]] = fetch_key_list,
                 run: Callable[[Callable[[], None]], None] = _in_thread):
        if keys is None and url is None:
            raise KeysError("the clusters need the controller's command keys: give a key file (--keys FILE, "
                            f"the JSON of GET {KEY_LIST_PATH}) or the key list's URL (--keys-url URL)")
        try:
            ring = keys if isinstance(keys, KeyRing) else KeyRing.provisioned(keys or ())
        except ProtocolError as exc:
            raise KeysError(f"the keys given are not key entries: {exc}") from exc
        self.path = Path(path) if path is not None else None
        kept = self._read_kept()
        try:
            self.ring = ring.merged(kept) if kept is not None else ring
        except ValueError as exc:
            raise KeysError(f"the command keys kept in {self.path} disagree with the keys given ({exc}): delete the "
                            "file to provision the keys again") from exc
        self.url = url
        self.refresh_s = refresh_s
        self.min_gap_s = min_gap_s
        self._fetch, self._run = fetch, run
        self._timers: Timers | None = None
        self._clock: Callable[[], float] | None = None
        self._deliver: Callable[..., None] | None = None
        self._asking: list[Callable[[], None]] = []  # wait for a fetch that begins after they asked
        self._answering: list[Callable[[], None]] = []  # wait for the fetch under way
        self._fetching = False
        self._due: Timer | None = None
        self._last_begun = -math.inf
        self.fetches_begun = 0
        self.last_error: str | None = None

    # ----- running

    def start(self, timers: Timers, clock: Callable[[], float], deliver: Callable[..., None]) -> None:
        """Fetch now and every refresh_s, on the loop that owns `timers`; `deliver` hands results to it."""
        self._timers, self._clock, self._deliver = timers, clock, deliver
        if self.url is not None:
            self._refresh_periodically()

    @property
    def fetchable(self) -> bool:
        """Tell whether asking the controller again could teach the ring a key."""
        return self.url is not None and self._timers is not None

    def verify(self, command: Mapping, now: float) -> Refusal | None:
        """Return why a command's signature is refused, or None if a trusted key signed it."""
        return self.ring.verify(command, now)

    def after_refresh(self, callback: Callable[[], None]) -> None:
        """Call `callback()` on the loop once a fetch begun after this call has ended, taught the ring or not."""
        self._asking.append(callback)
        self._schedule()

    # ----- fetching

    def _refresh_periodically(self) -> None:
        self._timers.call_at(self._clock() + self.refresh_s, self._refresh_periodically)
        self._schedule()

    def _schedule(self) -> None:
        if self._fetching or self._due is not None:
            return  # the end of the fetch under way schedules the next one
        due = self._last_begun + self.min_gap_s
        if due <= self._clock():
            self._begin()
        else:
            self._due = self._timers.call_at(due, self._begin)

    def _begin(self) -> None:
        self._due = None
        self._fetching = True
        self._last_begun = now = self._clock()
        self.fetches_begun += 1
        self._answering, self._asking = self._asking, []
        ring = self.ring
        try:
            self._run(lambda: self._deliver(self._ended, *self._learn(ring, now)))
        except Exception as exc:  # no thread for the fetch: it ends here, failed, or the commands held wait forever
            log.error("cannot start fetching the key list (%s); the clusters keep the keys they trust", exc)
            self._ended(ring, str(exc))

    def _learn(self, ring: KeyRing, now: float) -> tuple[KeyRing, str | None]:
        """Fetch the list and return the ring it teaches, with the error if the fetch failed (on the fetch thread).

        It never raises: whatever goes wrong is a failed fetch, so the loop always hears that the fetch ended.
        """
        try:
            entries = self._fetch(self.url)
            learned = self._taught(ring, entries, now)
        except KeysError as exc:
            log.warning("%s; the clusters keep the keys they trust (%s)", exc, _names(ring))
            return ring, str(exc)
        except Exception as exc:  # a fetch thread that dies never delivers, and what waits for it waits for good
            log.exception("fetching the key list from %s failed; the clusters keep the keys they trust (%s)",
                          self.url, _names(ring))
            return ring, f"the key list from {self.url} could not be read: {type(exc).__name__}"
        if learned != ring:
            self._keep(learned)
        return learned, None

    def _taught(self, ring: KeyRing, entries: list, now: float) -> KeyRing:
        if not len(ring):
            learned = _trust_first(entries)
            log.warning("trusting the %d command keys of the first key list fetched from %s, as factory "
                        "provisioning would: %s", len(learned), self.url, _names(learned))
            return learned
        lesson = ring.learn(entries, now)
        for sentence in lesson.refused:
            log.warning("key list from %s: %s", self.url, sentence)
        _log_changes(ring, lesson.ring)
        return lesson.ring

    def _ended(self, ring: KeyRing, error: str | None) -> None:
        self.ring, self.last_error = ring, error
        self._fetching = False
        answered, self._answering = self._answering, []
        for callback in answered:
            callback()
        if self._asking:
            self._schedule()

    # ----- keeping

    def _read_kept(self) -> KeyRing | None:
        if self.path is None:
            return None
        try:
            document = json.loads(self.path.read_bytes())
            if isinstance(document, list):
                return self._set_aside_old_format()
            if not isinstance(document, dict) or document.get("v") != KEPT_FORMAT:
                raise ValueError(f"not a ring kept in format {KEPT_FORMAT}")
            return KeyRing.provisioned(document.get("keys", ()))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError, RecursionError) as exc:
            log.error("cannot read the kept command keys in %s (%s); delete it to provision the keys again", self.path,
                      exc)
            raise KeysError(f"cannot read the kept command keys in {self.path}: {exc}; delete the file to provision "
                            "the keys again") from exc

    def _set_aside_old_format(self) -> None:
        """Keep a ring of format 1 (keys without their seq, unusable for the chain) under another name, and say so."""
        aside = self.path.with_name(self.path.name + ".v1")
        os.replace(self.path, aside)
        log.warning("the command keys kept in %s have no seq (format 1): set aside as %s; the clusters start from the "
                    "keys provisioned again", self.path, aside.name)

    def _keep(self, ring: KeyRing) -> None:
        if self.path is None:
            return
        temporary = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")  # shards of one fleet share the dir
        document = {"v": KEPT_FORMAT, "keys": ring.to_document()}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temporary.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
            os.replace(temporary, self.path)
        except OSError as exc:
            log.error("cannot keep the command keys in %s (%s): a restart forgets what was learned", self.path, exc)


def _trust_first(entries: list) -> KeyRing:
    """Trust every well-formed entry of the first list fetched; skip the others, and every key of a seq that two
    keys claim (whatever their order, as `KeyRing.learn` does)."""
    keys = []
    for entry in entries:
        try:
            keys.append(read_key(entry))
        except ProtocolError as exc:
            log.warning("skipped a key entry of the first key list: %s", exc)
    claims: dict[int, set[str]] = {}
    places: dict[str, set[int]] = {}
    for key in keys:
        claims.setdefault(key.seq, set()).add(key.kid)
        places.setdefault(key.kid, set()).add(key.seq)
    trusted = {}
    for key in keys:
        if len(claims[key.seq]) > 1 or len(places[key.kid]) > 1:
            log.warning("skipped key %s (seq %d) of the first key list: two keys claim that seq, or the key claims "
                        "two", key.kid, key.seq)
        elif key.kid not in trusted or sooner(key.not_after, trusted[key.kid].not_after):
            trusted[key.kid] = key
    return KeyRing(trusted.values())


def _names(ring: KeyRing) -> str:
    return ", ".join(f"{key.seq}:{key.kid}" for key in ring.chain()) or "none"


def _log_changes(before: KeyRing, after: KeyRing) -> None:
    for kid, key in after.keys.items():
        if kid not in before:
            log.info("learned command key %s, seq %d", kid, key.seq)
        elif key.not_after != before.keys[kid].not_after:
            log.info("command key %s now signs nothing after %s", kid, key.as_entry()["not_after"])
