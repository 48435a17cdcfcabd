"""Two tools joined by a pipe run at once, and both are stopped at the deadline."""

import pytest

from audio import ProcessingError
from audio.runner import run_piped


def test_the_producer_output_reaches_the_consumer_and_both_report_back():
    """What the first tool writes is what the second reads; each one's exit status comes back."""
    produced, consumed = run_piped(["printf", "abc"], ["sh", "-c", 'test "$(cat)" = abc'], timeout=30)
    assert produced.returncode == 0
    assert consumed.returncode == 0


def test_a_pipe_that_overruns_its_deadline_is_stopped_as_a_processing_error():
    """A hung producer does not hang prepare: both tools are killed and ProcessingError says so."""
    with pytest.raises(ProcessingError, match="did not finish"):
        run_piped(["sleep", "30"], ["cat"], timeout=0.5)


def test_a_missing_tool_is_a_processing_error():
    """A tool that cannot be started is our fault, reported as ProcessingError, never a crash."""
    with pytest.raises(ProcessingError, match="could not be started"):
        run_piped(["printf", "abc"], ["no-such-tool-for-loanet"], timeout=30)
