"""The whole system in one test process: real broker, real HTTP, the worker, a simulated fleet."""

import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items):
    """Every test in this directory is end to end (`make test-e2e`), whether or not its module says so."""
    for item in items:
        if HERE in Path(item.fspath).resolve().parents:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture
def tone(tmp_path):
    """A 1.5 s announcement-like tone as WAV."""
    path = tmp_path / "tone.wav"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=frequency=660:duration=1.5",
                    "-ac", "2", str(path)], check=True)
    return path
