"""The whole system in one test process: real broker, real HTTP, the worker, a simulated fleet.

`system` (tests/conftest.py) runs the worker in this process; `controller` and `scheduler` run it as production
does, `flask pa scheduler` in a process of its own that a test can kill, restart or give another clock.
"""

import subprocess
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from pa_controller import create_app
from pa_controller.extensions import db
from pa_controller.settings import of as settings_of
from tests.support.broker import free_port
from tests.support.scheduler import SchedulerProcess, controller_env
from tests.support.system import System, prepare

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


@pytest.fixture
def controller_settings() -> dict:
    """The settings `controller` and `scheduler` share; a test module overrides this fixture to change them."""
    return {"now_lead_s": 3.0, "run_settle_s": 10.0, "heartbeat_s": 5.0, "dispatch_lead_s": 60.0}


@pytest.fixture
def controller(database_url, make_settings, broker, controller_settings):
    """The controller's web part in this process (the clusters fetch their audio from it), no worker."""
    port = free_port()
    settings = make_settings(database_url, messaging="mqtt", mqtt_url=broker.controller_url,
                             public_url=f"http://127.0.0.1:{port}", **controller_settings)
    app = create_app(settings)
    token = prepare(app)  # its command key in the instance dir the scheduler reads too
    server = make_server("127.0.0.1", port, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield System(app, f"http://127.0.0.1:{port}", token)
    finally:
        server.shutdown()
        with app.app_context():
            db.engine.dispose()


@pytest.fixture
def scheduler(controller, broker, tmp_path):
    """`flask pa scheduler` as a process of its own, configured like the web part; not started yet."""
    process = SchedulerProcess(controller_env(settings_of(controller.app), broker), tmp_path)
    yield process
    process.stop()
