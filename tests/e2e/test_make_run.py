"""`make run` as a tester runs it: the real launcher, stopped by Ctrl-C on its process group, quietly."""

import signal
import subprocess
import sys

import pytest

from tests.support.launcher import ROOT, Launcher

CLUSTERS = 20


@pytest.fixture
def launcher(tmp_path):
    made: list[Launcher] = []

    def start(**env: str) -> Launcher:
        made.append(Launcher(tmp_path, **{"PA_SIM_CLUSTERS": str(CLUSTERS), **env}))
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
