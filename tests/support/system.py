"""The whole controller in the test process: the web part on real HTTP and the worker, against a real broker.

Shared by the end-to-end tests (tests/e2e) and the officer's journey in the browser (tests/browser).
"""

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

import requests
from flask_migrate import upgrade
from werkzeug.serving import make_server

import pa_protocol as protocol
from pa_controller import create_app
from pa_controller.domain import Role
from pa_controller.extensions import db
from pa_controller.scheduling.worker import Worker
from pa_controller.services import command_keys, fleet, people
from pa_controller.settings import of as settings_of
from tests.conftest import FLEET_CSV, PASSWORD


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

    def schedule(self, audio_id: int, start_at: datetime, targets: dict, *, priority: str = "normal",
                 title: str = "Thông báo") -> int:
        """Schedule a one-off broadcast of an uploaded clip; return the id of its run."""
        created = self.post("/api/v1/broadcasts", json={
            "title": title, "audio_id": audio_id, "priority": priority, "targets": targets,
            "start_at": protocol.format_time(start_at)})
        assert created.status_code == 201, created.text
        runs = self.wait_for(lambda: self.get(f"/api/v1/runs?broadcast_id={created.json()['id']}"), 10, "the run")
        return runs[0]["id"]

    def wait_for(self, predicate, timeout_s: float, what: str, show=None):
        """Poll until predicate() is truthy; on timeout, say what `show()` last saw."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if value := predicate():
                return value
            time.sleep(0.25)
        last = f"; last: {show()}" if show else ""
        raise AssertionError(f"timed out after {timeout_s} s waiting for {what}{last}")


def prepare(app, *, migrate: bool = True) -> str:
    """Make the controller's database and instance ready, as `make run` does before it starts anything: migrate
    and import the Ô Môn fleet (unless `migrate` is False: a copy of the seeded template), add the administrator
    `admin` and a command key. Return an API token of `admin`'s."""
    with app.app_context():
        if migrate:
            upgrade()
            fleet.import_csv(FLEET_CSV.read_text(encoding="utf-8"))
        admin = people.create_user("admin", PASSWORD, Role.ADMIN)
        token = people.issue_token(admin, "e2e")
        command_keys.init(command_keys.KeyFiles(settings_of(app).key_dir))
        db.session.remove()
    return token


@contextmanager
def running_system(settings, port: int, *, migrate: bool = True) -> Iterator[System]:
    """Serve an app built on `settings` at `port` (its public_url) and run its worker; yield a System whose token
    is the administrator `admin`'s. `migrate`: the database is empty, so migrate it and import the Ô Môn fleet
    (False: it is a copy of the seeded template). The server and the worker stop however the test ends."""
    app = create_app(settings)
    token = prepare(app, migrate=migrate)
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        worker = Worker(app, plan_interval_s=0.5)
        worker.start()
        try:
            yield System(app, f"http://127.0.0.1:{port}", token)
        finally:
            worker.stop()
    finally:
        server.shutdown()
        thread.join()
        with app.app_context():
            db.engine.dispose()
