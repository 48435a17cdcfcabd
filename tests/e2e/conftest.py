"""The whole system in one test process: real broker, real HTTP, the worker, a simulated fleet."""

import subprocess
import threading
import time
from pathlib import Path

import pytest
import requests
from flask_migrate import upgrade
from werkzeug.serving import make_server

from pa_controller import create_app
from pa_controller.domain import Role
from pa_controller.extensions import db
from pa_controller.scheduling.worker import Worker
from pa_controller.services import command_keys, fleet, people
from tests.conftest import FLEET_CSV, PASSWORD
from tests.support.broker import free_port

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items):
    """Every test in this directory is end to end (`make test-e2e`), whether or not its module says so."""
    for item in items:
        if HERE in Path(item.fspath).resolve().parents:
            item.add_marker(pytest.mark.e2e)


class System:
    def __init__(self, app, base_url: str, token: str):
        self.app = app
        self.base_url = base_url
        self.auth = {"Authorization": f"Bearer {token}"}

    @property
    def keys_url(self) -> str:
        """The controller's key list: a Fleet given it trusts the first list it fetches, as make run's does."""
        return self.base_url + "/api/v1/keys/commands"

    def get(self, path: str):
        response = requests.get(self.base_url + path, headers=self.auth, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()

    def post(self, path: str, **kwargs):
        return requests.post(self.base_url + path, headers=self.auth, timeout=60, **kwargs)

    def wait_for(self, predicate, timeout_s: float, what: str, show=None):
        """Poll until predicate() is truthy; on timeout, say what `show()` last saw."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if value := predicate():
                return value
            time.sleep(0.25)
        last = f"; last: {show()}" if show else ""
        raise AssertionError(f"timed out after {timeout_s} s waiting for {what}{last}")


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
    app = create_app(settings)
    with app.app_context():
        upgrade()
        fleet.import_csv(FLEET_CSV.read_text(encoding="utf-8"))
        admin = people.create_user("admin", PASSWORD, Role.ADMIN)
        token = people.issue_token(admin, "e2e")
        command_keys.init(command_keys.KeyFiles(settings.key_dir))
        db.session.remove()
    server = make_server("127.0.0.1", port, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    worker = Worker(app, plan_interval_s=0.5)
    worker.start()
    try:
        yield System(app, f"http://127.0.0.1:{port}", token)
    finally:
        worker.stop()
        server.shutdown()
        with app.app_context():
            db.engine.dispose()


@pytest.fixture
def tone(tmp_path):
    """A 1.5 s announcement-like tone as WAV."""
    path = tmp_path / "tone.wav"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=frequency=660:duration=1.5",
                    "-ac", "2", str(path)], check=True)
    return path
