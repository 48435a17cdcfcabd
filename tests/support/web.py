"""The web tier as production runs it: gunicorn and its workers (pa_controller/stack.py), in a group of its own."""

import os
import signal
import urllib.request
from pathlib import Path

from pa_controller.stack import web_command
from tests.support.scheduler import SchedulerProcess


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
        children = Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text().split()
        return [int(pid) for pid in children]

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
