"""Run ffmpeg and ffprobe as argument lists, never through a shell, always with a deadline."""

import logging
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .errors import ProcessingError

log = logging.getLogger(__name__)

FFMPEG = "ffmpeg"
FFPROBE = "ffprobe"
PROBE_TIMEOUT_S = 30.0
# Only these demuxers may open an input: it keeps ffmpeg from following playlists (hls, concat)
# to other files or URLs, and it is the list of accepted containers: mp3, wav, ogg (vorbis, opus),
# mp4/m4a (aac), raw adts aac, flac.
ACCEPTED_DEMUXERS = "mp3,wav,ogg,mov,aac,flac"


class ToolFailed(Exception):
    """Signal that a tool exited non-zero; callers turn it into the AudioError that fits."""

    def __init__(self, tool: str, stderr: str) -> None:
        super().__init__(f"{tool} failed: {last_line(stderr)}")
        self.stderr = stderr


@dataclass(frozen=True)
class Finished:
    returncode: int
    stdout: str
    stderr: str


def run(argv: list[str], *, timeout: float, feed: bytes | None = None) -> Finished:
    """Run one tool to completion, `feed` on its standard input; raise ProcessingError if it cannot start or
    overruns."""
    log.debug("running %s (timeout %.0f s)", argv, timeout)
    stdin = {"input": feed} if feed is not None else {"stdin": subprocess.DEVNULL}
    try:
        done = subprocess.run(argv, **stdin, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise ProcessingError(f"{argv[0]} did not finish within {timeout:.0f} s and was stopped") from exc
    except OSError as exc:
        raise ProcessingError(f"{argv[0]} could not be started ({exc.strerror}); it must be installed") from exc
    return Finished(done.returncode, done.stdout.decode("utf-8", "replace"), done.stderr.decode("utf-8", "replace"))


def run_piped(producer: list[str], consumer: list[str], *, timeout: float) -> tuple[Finished, Finished]:
    """Run two tools at once, the first one's stdout feeding the second's stdin; stop both at the deadline."""
    log.debug("running %s | %s (timeout %.0f s)", producer, consumer, timeout)
    # Error output goes to files, not pipes: a chatty tool must never block on a pipe nobody reads yet.
    with tempfile.TemporaryFile() as producer_err, tempfile.TemporaryFile() as consumer_err:
        try:
            first = subprocess.Popen(producer, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=producer_err)
        except OSError as exc:
            raise _not_started(producer, exc) from exc
        try:
            second = subprocess.Popen(consumer, stdin=first.stdout, stdout=subprocess.DEVNULL, stderr=consumer_err)
        except OSError as exc:
            first.kill()
            first.wait()
            raise _not_started(consumer, exc) from exc
        finally:
            first.stdout.close()  # the consumer holds its own copy; ours would keep the pipe open after it exits
        deadline = time.monotonic() + timeout
        try:
            codes = first.wait(timeout=timeout), second.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired as exc:
            for process in (first, second):
                process.kill()
                process.wait()
            raise ProcessingError(f"{producer[0]} did not finish within {timeout:.0f} s and was stopped") from exc
        return Finished(codes[0], "", _read(producer_err)), Finished(codes[1], "", _read(consumer_err))


def _not_started(argv: list[str], exc: OSError) -> ProcessingError:
    return ProcessingError(f"{argv[0]} could not be started ({exc.strerror}); ffmpeg must be installed")


def _read(spooled) -> str:
    spooled.seek(0)
    return spooled.read().decode("utf-8", "replace")


def processing_timeout(seconds_of_audio: float) -> float:
    """Allow many times the usual speed so that only a hung tool meets the deadline."""
    return 60.0 + 0.25 * seconds_of_audio


def input_args(path: Path) -> list[str]:
    """Open `path` as a local file only, through an accepted demuxer only."""
    # "file:" stops a name like "concat:a|b" or "http:…" from being read as a protocol.
    return ["-protocol_whitelist", "file", "-format_whitelist", ACCEPTED_DEMUXERS, "-i", f"file:{path.resolve()}"]


def last_line(stderr: str) -> str:
    """Return the last non-empty line of a tool's error output, for logs."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"
