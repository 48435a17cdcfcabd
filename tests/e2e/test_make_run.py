"""`make run` as a tester runs it: the real launcher, stopped by Ctrl-C on its process group, quietly."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.support.broker import free_port

ROOT = Path(__file__).resolve().parents[2]
CLUSTERS = 20


class Launcher:
    """`python -m pa_controller.stack` as the foreground job of a terminal: its own process group, Ctrl-C not
    ignored (a shell's background job would inherit SIGINT ignored), everything it and its children print kept."""

    def __init__(self, tmp_path: Path, **env: str):
        self.instance = tmp_path / "instance"
        clean = {k: v for k, v in os.environ.items() if not k.startswith("PA_") and k != "DATABASE_URL"}
        self.env = {**clean, "PA_SIM_CLUSTERS": str(CLUSTERS), "PA_HTTP_PORT": str(free_port()),
                    "PA_MQTT_PORT": str(free_port()), "PA_INSTANCE_DIR": str(self.instance), **env}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pa_controller.stack"], cwd=ROOT, env=self.env, stdout=subprocess.PIPE,
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


@pytest.fixture
def launcher(tmp_path):
    made: list[Launcher] = []

    def start(**env: str) -> Launcher:
        made.append(Launcher(tmp_path, **env))
        return made[-1]

    yield start
    for one in made:
        one.close()


@pytest.mark.e2e
@pytest.mark.timeout(60)
def test_ctrl_c_stops_the_whole_stack_in_order_without_a_traceback(launcher):
    stack = launcher(PA_SIM_SCENARIO="dead-amplifiers", PA_SIM_SEED="7")
    stack.wait_for(f"{CLUSTERS}/456 clusters online", timeout_s=40)
    code, took = stack.ctrl_c(timeout_s=20)
    output = stack.output
    assert code == 0, output
    assert "Traceback" not in output and "KeyboardInterrupt" not in output, output
    assert took < 10, output
    order = [output.index(f"stopping {name}\n") for name in ("simulator", "web", "mosquitto")]
    assert order == sorted(order), output
    assert "scenario dead-amplifiers:" in output and "seeded with" not in output, "the simulator got both"
    access_log = (stack.instance / "web-access.log").read_text()
    assert "GET /api/v1/health" in access_log and "/api/v1/clusters" not in access_log
    assert '"GET /' not in output, "the access log stays off the terminal"


@pytest.mark.e2e
@pytest.mark.timeout(60)
def test_ctrl_c_during_the_migrations_lets_them_finish_and_starts_nothing_more(launcher):
    stack = launcher()
    stack.wait_for("Running upgrade", timeout_s=20)
    code, _ = stack.ctrl_c(timeout_s=30)
    output = stack.output
    assert code == 0, output
    assert "Traceback" not in output and "KeyboardInterrupt" not in output, output
    assert "starting " not in output, output


@pytest.mark.e2e
@pytest.mark.timeout(120)
def test_a_second_make_run_on_the_same_instance_dir_logs_everyone_in_again_and_the_tools_find_their_logins(
        launcher, tmp_path):
    first = launcher()
    first.wait_for(f"{CLUSTERS}/456 clusters online", timeout_s=40)
    assert first.ctrl_c(timeout_s=20)[0] == 0, first.output
    (first.instance / "sim-credentials.csv").unlink()  # lost: make run gives its clusters new passwords
    again = launcher(PA_HTTP_PORT=first.env["PA_HTTP_PORT"], PA_MQTT_PORT=first.env["PA_MQTT_PORT"])
    again.wait_for(f"{CLUSTERS}/456 clusters online", timeout_s=40)
    secrets = [again.instance / name for name in ("sim-credentials.csv", "broker/controller.password",
                                                    "broker/monitor.password", "broker/ca.key", "broker/server.key")]
    assert {oct(path.stat().st_mode & 0o777) for path in secrets} == {"0o600"}
    # README's bench, beside make run: a cluster it does not simulate, and nothing but its id.
    bench = subprocess.Popen([sys.executable, "-m", "firmware_sim", "listen", "--cid", "om-tlg-062"], cwd=ROOT,
                             env=again.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = bench.stdout.readline()
    finally:
        bench.send_signal(signal.SIGINT)
        bench.wait(10)
    assert "→ status    online boot " in line, bench.stderr.read()
    assert again.ctrl_c(timeout_s=20)[0] == 0, again.output
