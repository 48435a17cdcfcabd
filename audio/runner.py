"""Run ffmpeg and ffprobe as argument lists, never through a shell, always with a deadline."""

import logging
import os
import re
import subprocess
import tempfile
import threading
from collections.abc import Callable
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


def run_watched(argv: list[str], *, timeout: float, mark: re.Pattern, at_mark: Callable[[str], None]) -> Finished:
    """Run one tool as `run` does, and once a line of its error output matches `mark`, show `at_mark` all of it so
    far: whatever `at_mark` raises stops the tool at once and propagates (a verdict on headers need not wait for
    the decode). Raise ProcessingError if the tool cannot start or overruns."""
    log.debug("running %s (timeout %.0f s, watched)", argv, timeout)
    try:
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    except OSError as exc:
        raise ProcessingError(f"{argv[0]} could not be started ({exc.strerror}); it must be installed") from exc
    overran = threading.Event()
    watchdog = threading.Timer(timeout, _kill, (overran, process))
    watchdog.start()
    lines: list[str] = []
    try:
        marked = False
        for raw in process.stderr:
            lines.append(raw.decode("utf-8", "replace"))
            if not marked and mark.search(lines[-1]):
                marked = True
                at_mark("".join(lines))
        code = process.wait()
    finally:
        watchdog.cancel()
        if process.poll() is None:
            process.kill()
        process.wait()
        process.stderr.close()
    if overran.is_set():
        raise ProcessingError(f"{argv[0]} did not finish within {timeout:.0f} s and was stopped")
    return Finished(code, "", "".join(lines))


def _kill(overran: threading.Event, process: subprocess.Popen) -> None:
    overran.set()
    process.kill()


class Started:
    """A tool started before the last of its input is known, which it reads from a pipe (`pipe:N`, a name ffmpeg
    opens): its start-up (for ffmpeg, loading some 200 libraries, ~50 ms) then overlaps the work that decides that
    input. `give` hands the input over, `finish` waits for tools, `stop` ends one unused. Its error output goes to a
    file: a chatty tool must never block on a pipe nobody reads yet."""

    def __init__(self, argv: Callable[[str], list[str]], *, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE) -> None:
        read, self._write = os.pipe()
        self.argv = argv(f"pipe:{read}")
        self._stderr = tempfile.TemporaryFile()
        try:
            self.process = subprocess.Popen(self.argv, stdin=stdin, stdout=stdout, stderr=self._stderr,
                                            pass_fds=(read,))  # fmt: skip
        except OSError as exc:
            self._close_write()
            self._stderr.close()
            raise _not_started(self.argv, exc) from exc
        finally:
            os.close(read)
        log.debug("started %s", self.argv)

    def give(self, text: str) -> None:
        """Write the awaited input and close the pipe: the tool reads to its end, then goes on."""
        try:
            os.write(self._write, text.encode("utf-8"))  # far below a pipe's 64 KiB: never blocks
        except BrokenPipeError:
            pass  # the tool has exited already: its status and error output say why
        finally:
            self._close_write()

    def stop(self) -> None:
        """End the tool, unused or overrunning; nothing if it has finished."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self._close()

    def result(self, code: int) -> Finished:
        """What the tool said, once it exited with `code`; the end of it."""
        self._stderr.seek(0)
        finished = Finished(code, "", self._stderr.read().decode("utf-8", "replace"))
        self._close()
        return finished

    def _close_write(self) -> None:
        if self._write is not None:
            os.close(self._write)
            self._write = None

    def _close(self) -> None:
        self._close_write()
        if self.process.stdout:
            self.process.stdout.close()
        self._stderr.close()


def finish(*tools: Started, timeout: float) -> list[Finished]:
    """Wait for tools started (and given their input); stop them all at the deadline."""
    # A watchdog rather than wait(timeout=…): a wait with a timeout polls, sleeping up to 50 ms between looks,
    # which for a short clip is half its encode; a plain wait returns the moment the tool exits.
    overran = threading.Event()
    watchdog = threading.Timer(timeout, _stop, (overran, *tools))
    watchdog.start()
    try:
        codes = [tool.process.wait() for tool in tools]
    finally:
        watchdog.cancel()
    if overran.is_set():
        for tool in tools:
            tool.stop()
        raise ProcessingError(f"{tools[0].argv[0]} did not finish within {timeout:.0f} s and was stopped")
    return [tool.result(code) for tool, code in zip(tools, codes, strict=True)]


def start_piped(producer: Callable[[str], list[str]], consumer: Callable[[str], list[str]]) -> tuple[Started, Started]:
    """Start two tools, the first one's stdout feeding the second's stdin, each waiting for its own input."""
    first = Started(producer)
    try:
        second = Started(consumer, stdin=first.process.stdout, stdout=subprocess.DEVNULL)
    except ProcessingError:
        first.stop()
        raise
    finally:
        # The consumer holds its own copy; ours would keep the pipe open after it exits (and with the consumer
        # gone, an ffmpeg tee slave writing to the pipe learns at once that nobody reads: it goes on without it).
        first.process.stdout.close()
    return first, second


def _stop(overran: threading.Event, *tools: Started) -> None:
    overran.set()
    for tool in tools:
        tool.process.kill()


def _not_started(argv: list[str], exc: OSError) -> ProcessingError:
    return ProcessingError(f"{argv[0]} could not be started ({exc.strerror}); ffmpeg must be installed")


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
