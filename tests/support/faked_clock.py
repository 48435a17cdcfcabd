"""Another wall clock for one process, moved while it runs: libfaketime (Debian package `faketime`, `make system`).

Only the process started with `env()` sees it; the machine's clock is never touched. The offset lives in a file
(FAKETIME_TIMESTAMP_FILE) that libfaketime reads again at most once a second, so `set()` steps the clock of a
running process. The monotonic clock is left alone (FAKETIME_DONT_FAKE_MONOTONIC): timeouts and waits keep real
time, as they do when NTP steps a real clock. `faketime_shim/` works around libfaketime's broken `time.sleep`.
"""

import os
from pathlib import Path

import pytest

LIBFAKETIME = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")
SHIM = Path(__file__).resolve().parent / "faketime_shim"


def require_libfaketime() -> None:
    """Skip (fail under CI) when libfaketime is not installed."""
    if not LIBFAKETIME.exists():
        message = f"libfaketime is not at {LIBFAKETIME}: `make system` installs the Debian package faketime"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


class FakedClock:
    """A wall clock `offset_s` seconds off true time, for the processes started with `env()`."""

    def __init__(self, directory: Path):
        require_libfaketime()
        self.offset_file = directory / "faketime-offset"
        self.offset_s = 0
        self.set(0)

    def env(self) -> dict[str, str]:
        return {
            "LD_PRELOAD": str(LIBFAKETIME),
            "FAKETIME_TIMESTAMP_FILE": str(self.offset_file),
            "FAKETIME_CACHE_DURATION": "1",
            "FAKETIME_DONT_FAKE_MONOTONIC": "1",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(SHIM), os.environ.get("PYTHONPATH")])),
        }

    def set(self, offset_s: int) -> None:
        """Step the clock to `offset_s` seconds from true time (ahead if positive); running processes follow
        within a second."""
        self.offset_s = offset_s
        self.offset_file.write_text(f"{offset_s:+d}\n")
