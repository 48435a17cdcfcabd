"""The scheduler as production runs it: `flask --app wsgi pa scheduler` in a process of its own."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STARTED = b"worker started"


class SchedulerProcess:
    """Start, SIGKILL and stop one `flask pa scheduler`; each start logs to its own file.

    Another of the controller's processes is a subclass naming its `name`, `command` and when it is `ready()`.
    """

    name = "scheduler"
    command = (sys.executable, "-m", "flask", "--app", "wsgi", "pa", "scheduler")

    def __init__(self, env: dict[str, str], log_dir: Path):
        self.env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
        self.log_dir = log_dir
        self.process: subprocess.Popen | None = None
        self.starts = 0
        self.log_path: Path | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    def start(self, timeout_s: float = 30) -> "SchedulerProcess":
        """Start the process and wait until it is ready (the scheduler: it has taken the lock, started its worker)."""
        self.starts += 1
        self.log_path = self.log_dir / f"{self.name}-{self.starts}.log"
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(self.command, cwd=ROOT, env=self.env, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.ready():
                return self
            if self.process.poll() is not None:
                raise RuntimeError(f"the {self.name} exited with code {self.process.returncode}:\n{self.log()}")
            time.sleep(0.05)
        raise RuntimeError(f"the {self.name} did not start within {timeout_s} s:\n{self.log()}")

    def ready(self) -> bool:
        return STARTED in self.log_path.read_bytes()

    def kill(self) -> None:
        """SIGKILL: no handler, no cleanup, no last publish; the way a crash or the OOM killer ends it."""
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        """Stop it as Ctrl-C would, if it still runs."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""


def controller_env(settings, broker) -> dict[str, str]:
    """The variables a controller process (scheduler, web) reads, saying what `settings` say, on a private `broker`
    with the controller's login, as in production."""
    return {
        "FLASK_APP": "wsgi",
        "PA_INSTANCE_DIR": str(settings.instance_dir),
        "DATABASE_URL": settings.database_url,
        "PA_MQTT_URL": broker.url,
        "PA_MQTT_PASSWORD_FILE": str(broker.controller_password_file),
        "PA_PUBLIC_URL": settings.public_url,
        "PA_NOW_LEAD_S": str(settings.now_lead_s),
        "PA_RUN_SETTLE_S": str(settings.run_settle_s),
        "PA_HEARTBEAT_S": str(settings.heartbeat_s),
        "PA_DISPATCH_LEAD_S": str(settings.dispatch_lead_s),
        "PA_QUIET_HOURS": "",  # as the testing settings: no test depends on the hour it runs at
    }
