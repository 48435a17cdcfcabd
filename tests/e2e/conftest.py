"""The whole system in one test process: real broker, real HTTP, the worker, a simulated fleet."""

import subprocess
from pathlib import Path

import pytest

from tests.support.broker import free_port
from tests.support.system import running_system

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items):
    """Every test in this directory is end to end (`make test-e2e`), whether or not its module says so."""
    for item in items:
        if HERE in Path(item.fspath).resolve().parents:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture
def system_settings() -> dict:
    """The controller's settings for `system`; a test module overrides this fixture to change them."""
    return {"now_lead_s": 3.0, "run_settle_s": 10.0, "heartbeat_s": 5.0}


@pytest.fixture
def system(database_url, make_settings, broker, system_settings):
    """Controller web server and worker against a real broker; yields a System."""
    port = free_port()
    settings = make_settings(database_url, messaging="mqtt", mqtt_url=broker.controller_url,
                             public_url=f"http://127.0.0.1:{port}", **system_settings)
    with running_system(settings, port) as system:
        yield system


@pytest.fixture
def tone(tmp_path):
    """A 1.5 s announcement-like tone as WAV."""
    path = tmp_path / "tone.wav"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=frequency=660:duration=1.5",
                    "-ac", "2", str(path)], check=True)
    return path
