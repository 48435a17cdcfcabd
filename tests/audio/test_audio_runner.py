"""Tools started ahead of their input, or joined by a pipe, run at once, and all are stopped at the deadline."""

from pathlib import Path

import pytest

from audio import ProcessingError
from audio.runner import Started, finish, start_piped


def test_the_producer_output_reaches_the_consumer_and_both_report_back():
    """What the first tool writes is what the second reads; each one's exit status comes back."""
    produced, consumed = finish(*start_piped(lambda _pipe: ["printf", "abc"],
                                             lambda _pipe: ["sh", "-c", 'test "$(cat)" = abc']), timeout=30)
    assert produced.returncode == 0
    assert consumed.returncode == 0


def test_a_pipe_that_overruns_its_deadline_is_stopped_as_a_processing_error():
    """A hung producer does not hang prepare: both tools are killed and ProcessingError says so."""
    with pytest.raises(ProcessingError, match="did not finish"):
        finish(*start_piped(lambda _pipe: ["sleep", "30"], lambda _pipe: ["cat"]), timeout=0.5)


def test_a_missing_tool_is_a_processing_error():
    """A tool that cannot be started is our fault, reported as ProcessingError, never a crash."""
    with pytest.raises(ProcessingError, match="could not be started"):
        start_piped(lambda _pipe: ["printf", "abc"], lambda _pipe: ["no-such-tool-for-loanet"])


def _cat_pipe(name: str) -> list[str]:
    """A tool that prints what it is given on `name` ("pipe:N", as ffmpeg names a descriptor)."""
    return ["cat", f"/dev/fd/{name.removeprefix('pipe:')}"]


def test_a_started_tool_waits_for_its_input_then_goes_on():
    """The producer runs at once but reads what it was waiting for only when given; the consumer sees it."""
    producer, consumer = start_piped(_cat_pipe, lambda _pipe: ["sh", "-c", 'test "$(cat)" = "gain 3 dB"'])
    consumer.give("")
    producer.give("gain 3 dB")
    produced, consumed = finish(producer, consumer, timeout=30)
    assert (produced.returncode, consumed.returncode) == (0, 0)


def test_a_started_tool_never_given_its_input_is_stopped_and_reaped():
    """Stopping an unused tool (the measuring refused the file) leaves no process behind, and a second stop is
    harmless, as after a finish."""
    waiting = Started(_cat_pipe)
    waiting.stop()
    waiting.stop()
    assert waiting.process.returncode is not None
    assert all(str(waiting.process.pid) not in (path.read_text().split())
               for path in Path("/proc/self/task").glob("*/children"))


def test_a_started_tool_that_overruns_is_stopped_as_a_processing_error():
    """A tool whose input never comes is caught by the deadline like any other."""
    waiting = Started(_cat_pipe)
    with pytest.raises(ProcessingError, match="did not finish"):
        finish(waiting, timeout=0.5)
    assert waiting.process.returncode is not None
