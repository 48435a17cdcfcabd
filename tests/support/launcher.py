"""`make run` (`python -m pa_controller.stack`) as a tester runs it: the real launcher, in a terminal's foreground."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.support.broker import free_port

ROOT = Path(__file__).resolve().parents[2]


class Launcher:
    """`python -m pa_controller.stack` as the foreground job of a terminal: its own process group, Ctrl-C not
    ignored (a shell's background job would inherit SIGINT ignored), everything it and its children print kept."""

    def __init__(self, tmp_path: Path, *args: str, **env: str):
        """Start `python -m pa_controller.stack ARGS` on free ports and `tmp_path`, nothing of the tester's PA_*
        variables or DATABASE_URL, with `env` (PA_SIM_CLUSTERS among them) added."""
        self.instance = tmp_path / "instance"
        clean = {k: v for k, v in os.environ.items() if not k.startswith("PA_") and k != "DATABASE_URL"}
        self.env = {**clean, "PA_HTTP_PORT": str(free_port()), "PA_MQTT_PORT": str(free_port()),
                    "PA_MQTTS_PORT": str(free_port()), "PA_INSTANCE_DIR": str(self.instance), **env}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pa_controller.stack", *args], cwd=ROOT, env=self.env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, start_new_session=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_for(self, text: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while not any(text in line for line in self.lines):
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise AssertionError(f"no line with {text!r} within {timeout_s} s:\n{self.output}")
            time.sleep(0.05)

    def ctrl_c(self, timeout_s: float) -> tuple[int, float]:
        """Send SIGINT to the whole process group, as a terminal does; return the exit code and seconds taken."""
        began = time.monotonic()
        os.killpg(self.process.pid, signal.SIGINT)
        code = self.process.wait(timeout_s)
        self._reader.join(5)
        return code, time.monotonic() - began

    def close(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
