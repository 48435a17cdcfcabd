"""The web tier as production runs it: gunicorn and its workers (pa_controller/stack.py), in a group of its own."""

import os
import signal
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pa_controller import create_app
from pa_controller.extensions import db
from pa_controller.stack import web_command
from tests.support.scheduler import SchedulerProcess, controller_env
from tests.support.system import System, prepare


class WebProcess(SchedulerProcess):
    """Start, SIGKILL (a worker, or the whole tier) and stop one gunicorn serving wsgi:app on `port`."""

    name = "web"

    def __init__(self, env: dict[str, str], log_dir: Path, port: int):
        super().__init__({**env, "PA_HTTP_PORT": str(port)}, log_dir)
        self.port = port
        self.command = web_command(port, log_dir / "web-access.log")

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ready(self) -> bool:
        """True once a worker answers (the health answer is 503 while the database is away: an answer all the same)."""
        try:
            # a URL built here, on 127.0.0.1: no other scheme can reach it
            urllib.request.urlopen(f"{self.base_url}/api/v1/health", timeout=2).close()  # nosec B310
        except urllib.error.HTTPError:
            return True
        except OSError:
            return False
        return True

    def workers(self) -> list[int]:
        """Return the pids of gunicorn's workers (the master's children)."""
        return _children(self.pid)

    def worker_running(self, program: str) -> int | None:
        """Return the pid of a worker that has `program` (ffmpeg, espeak-ng) running for it, if one has."""
        for worker in self.workers():
            for child in _children(worker):
                try:
                    if Path(f"/proc/{child}/comm").read_text().strip() == program:
                        return worker
                except FileNotFoundError:  # it has just ended
                    pass
        return None

    def kill(self) -> None:
        """SIGKILL the master and every worker at once: the machine's web tier gone, as in a crash."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            super().stop()
        try:
            os.killpg(self.process.pid, signal.SIGKILL)  # a worker left behind by a master that died first
        except ProcessLookupError:
            pass


def _children(pid: int) -> list[int]:
    """The children of a process, whichever of its threads started them; none once it has gone."""
    children = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children += [int(child) for child in (task / "children").read_text().split()]
        except FileNotFoundError:
            pass
    return children


@contextmanager
def running_controller(settings, broker, log_dir: Path, *, migrate: bool = True, **env: str
                       ) -> Iterator[tuple[System, WebProcess, SchedulerProcess]]:
    """The controller as production runs it, on `settings` (their public_url names the web tier's port): the
    database made ready in this process (prepare), then gunicorn and `flask pa scheduler`, each a process of its
    own, on a private `broker`, with more variables `env`. Yield a System (an app in this process, for looking in
    the database) and both processes."""
    app = create_app(settings)
    token = prepare(app, migrate=migrate)
    env = {**controller_env(settings, broker), **env}
    web = WebProcess(env, log_dir, int(settings.public_url.rsplit(":", 1)[1]))
    scheduler = SchedulerProcess(env, log_dir)
    try:
        web.start()
        scheduler.start()
        yield System(app, web.base_url, token), web, scheduler
    finally:
        scheduler.stop()
        web.stop()
        with app.app_context():
            db.engine.dispose()
