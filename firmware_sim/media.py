"""Fetch, verify and decode-check clips on a small worker pool, off the loop thread."""

import hashlib
import logging
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urlparse

import requests

log = logging.getLogger(__name__)

FETCH, CHECKSUM, DECODE = "fetch", "checksum", "decode"
MAX_CLIP_BYTES = 64 * 1024 * 1024
HTTP_TIMEOUT = (5.0, 30.0)
PROBE_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class FetchOutcome:
    """What became of one fetch: ok, or the `failed` reason with a message for people."""

    ok: bool
    reason: str | None = None
    message: str = ""
    duration_s: float | None = None

    @classmethod
    def failure(cls, reason: str, message: str) -> "FetchOutcome":
        return cls(False, reason, message)


class DecodeError(Exception):
    """A clip that ffprobe cannot read; carries the sha256 it is about."""

    def __init__(self, sha256: str, message: str):
        super().__init__(message)
        self.sha256 = sha256


def probe_duration(data: bytes, sha256: str) -> float:
    """Return the clip's duration in seconds as ffprobe reads it, or raise DecodeError."""
    binary = shutil.which("ffprobe")
    if binary is None:
        raise DecodeError(sha256, "ffprobe is not installed: install ffmpeg")
    # A file, not a pipe: from a pipe ffprobe cannot seek and reports no duration for mp3.
    with tempfile.NamedTemporaryFile(prefix="sim-clip-", suffix=".audio") as clip:
        clip.write(data)
        clip.flush()
        command = [binary, "-v", "error", "-show_entries", "format=duration", "-of", "default=nw=1:nk=1", clip.name]
        try:
            done = subprocess.run(command, capture_output=True, timeout=PROBE_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired as exc:
            raise DecodeError(sha256, f"ffprobe took more than {PROBE_TIMEOUT_S:.0f} s") from exc
    text = done.stdout.decode(errors="replace").strip()
    try:
        duration = float(text)
    except ValueError:
        duration = 0.0
    if done.returncode != 0 or duration <= 0:
        error = done.stderr.decode(errors="replace").strip().splitlines()
        raise DecodeError(sha256, f"ffprobe cannot decode it: {error[-1] if error else 'no duration'}")
    return duration


class DecodeChecks:
    """Decode-check each sha256 once per process; concurrent checks of one sha256 wait for the first."""

    def __init__(self, probe: Callable[[bytes, str], float] = probe_duration):
        self._probe = probe
        self._lock = threading.Lock()
        self._results: dict[str, Future] = {}

    def __len__(self) -> int:
        return len(self._results)

    def duration(self, sha256: str, data: bytes) -> float:
        """Return the clip's duration, probing only the first time this sha256 is seen; raise DecodeError."""
        with self._lock:
            result = self._results.get(sha256)
            owner = result is None
            if owner:
                result = self._results[sha256] = Future()
        if owner:
            try:
                result.set_result(self._probe(data, sha256))
            except DecodeError as exc:
                result.set_exception(exc)
        return result.result()


DECODE_CHECKS = DecodeChecks()


def fetch_clip(audio: dict, http: requests.Session, checks: DecodeChecks = DECODE_CHECKS) -> FetchOutcome:
    """Download `audio.url`, check its size and sha256, decode-check it; never raise."""
    url, expected_sha, expected_bytes = audio["url"], audio["sha256"].lower(), audio["bytes"]
    if urlparse(url).scheme not in ("http", "https"):
        return FetchOutcome.failure(FETCH, f"{url!r} is not an http(s) URL")
    if not 0 < expected_bytes <= MAX_CLIP_BYTES:
        return FetchOutcome.failure(FETCH, f"a clip of {expected_bytes} bytes is outside 1..{MAX_CLIP_BYTES}")
    digest, chunks, size = hashlib.sha256(), [], 0
    try:
        with http.get(url, stream=True, timeout=HTTP_TIMEOUT) as answer:
            if answer.status_code != 200:
                return FetchOutcome.failure(FETCH, f"GET {url} answered HTTP {answer.status_code}")
            for chunk in answer.iter_content(64 * 1024):
                size += len(chunk)
                if size > expected_bytes:
                    return FetchOutcome.failure(CHECKSUM, f"{url} is longer than the announced {expected_bytes} bytes")
                digest.update(chunk)
                chunks.append(chunk)
    except requests.RequestException as exc:
        return FetchOutcome.failure(FETCH, f"GET {url} failed: {exc}")
    if size != expected_bytes:
        return FetchOutcome.failure(CHECKSUM, f"{url} has {size} bytes, not the announced {expected_bytes}")
    if digest.hexdigest() != expected_sha:
        return FetchOutcome.failure(CHECKSUM, f"{url} has sha256 {digest.hexdigest()}, not {expected_sha}")
    try:
        duration = checks.duration(expected_sha, b"".join(chunks))
    except DecodeError as exc:
        return FetchOutcome.failure(DECODE, str(exc))
    return FetchOutcome(True, duration_s=duration)


class AudioFetcher:
    """Run fetches on a shared worker pool and hand each outcome back through `deliver` (the loop)."""

    def __init__(self, deliver: Callable[..., None], workers: int = 8, checks: DecodeChecks = DECODE_CHECKS):
        self._deliver = deliver
        self._checks = checks
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sim-fetch")
        self._local = threading.local()

    def fetch(self, audio: dict, done: Callable[[FetchOutcome], None]) -> None:
        """Start fetching `audio`; `done(outcome)` later runs wherever `deliver` puts it."""
        future = self._pool.submit(self._fetch, audio)
        future.add_done_callback(lambda f: self._deliver(done, _outcome_of(f)))

    def close(self) -> None:
        """Drop queued fetches and let running ones finish in the background."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _fetch(self, audio: dict) -> FetchOutcome:
        http = getattr(self._local, "http", None)
        if http is None:
            http = self._local.http = requests.Session()
        return fetch_clip(audio, http, self._checks)


def _outcome_of(future: Future) -> FetchOutcome:
    if future.cancelled():
        return FetchOutcome.failure(FETCH, "the simulator shut down before the fetch ran")
    exc = future.exception()
    if exc is not None:
        log.error("fetch crashed", exc_info=exc)
        return FetchOutcome.failure(FETCH, f"the fetch crashed: {exc}")
    return future.result()
