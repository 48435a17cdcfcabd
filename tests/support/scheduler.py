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
    """Start, SIGKILL and stop one `flask pa scheduler`; each start logs to its own file."""

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
        """Start the scheduler and wait until it has taken the lock and started its worker."""
        self.starts += 1
        self.log_path = self.log_dir / f"scheduler-{self.starts}.log"
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", "pa", "scheduler"],
                                            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if STARTED in self.log_path.read_bytes():
                return self
            if self.process.poll() is not None:
                raise RuntimeError(f"the scheduler exited with code {self.process.returncode}:\n{self.log()}")
            time.sleep(0.05)
        raise RuntimeError(f"the scheduler did not start within {timeout_s} s:\n{self.log()}")

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
