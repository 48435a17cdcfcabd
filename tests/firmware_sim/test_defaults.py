"""The simulator's tools find what `make run` started: one set of defaults, from make run's variables."""

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from firmware_sim import cli, defaults, listen, report
from firmware_sim.__main__ import main as sim_main
from pa_controller.settings import Settings
from tests.support.broker import free_port

REPO = Path(__file__).resolve().parents[2]
MAKE_RUN_VARIABLES = ("PA_MQTT_URL", "PA_MQTT_PORT", "PA_HTTP_PORT", "PA_INSTANCE_DIR", "PA_BROKER_DIR")


@pytest.fixture
def clean_env(monkeypatch):
    """No make run variable set, as in a fresh shell."""
    for name in MAKE_RUN_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def tool_defaults() -> dict[str, dict]:
    """What each command line takes when given nothing but what it requires."""
    simulator = cli.build_parser().parse_args([])
    bench = listen.build_parser().parse_args(["--cid", "om-tho-001"])
    reporter = report.build_parser().parse_args(["--run", "1"])
    return {
        "simulator": {"broker": simulator.broker, "truth": simulator.truth, "state_dir": simulator.state_dir,
                      "token_file": simulator.token_file, "keys_url": simulator.keys_url},
        "listen": {"broker": bench.broker, "truth": bench.truth, "keys_url": bench.keys_url},
        "report": {"api": reporter.api, "truth": reporter.truth, "token_file": reporter.token_file},
    }


def test_every_tool_defaults_to_the_broker_controller_and_instance_dir_of_make_run(clean_env):
    found = tool_defaults()
    keys = "http://127.0.0.1:5000/api/v1/keys/commands"
    assert found["simulator"] == {"broker": "mqtt://127.0.0.1:1884", "truth": "instance/sim-truth.jsonl",
                                  "state_dir": "instance/sim-state", "token_file": "instance/bootstrap-token",
                                  "keys_url": keys}
    assert found["listen"] == {"broker": "mqtt://127.0.0.1:1884", "truth": "instance/sim-truth.jsonl",
                               "keys_url": keys}
    assert found["report"] == {"api": "http://127.0.0.1:5000", "truth": "instance/sim-truth.jsonl",
                               "token_file": "instance/bootstrap-token"}
    assert cli.build_parser().parse_args(["--api"]).api == "http://127.0.0.1:5000"


def test_the_defaults_follow_the_ports_and_instance_dir_make_run_was_given(clean_env, tmp_path):
    clean_env.setenv("PA_MQTT_PORT", "1984")
    clean_env.setenv("PA_HTTP_PORT", "5100")
    clean_env.setenv("PA_INSTANCE_DIR", str(tmp_path))
    found = tool_defaults()
    assert found["simulator"]["broker"] == found["listen"]["broker"] == "mqtt://127.0.0.1:1984"
    assert found["report"]["api"] == cli.build_parser().parse_args(["--api"]).api == "http://127.0.0.1:5100"
    keys = "http://127.0.0.1:5100/api/v1/keys/commands"
    assert found["simulator"]["keys_url"] == found["listen"]["keys_url"] == keys
    truth = str(tmp_path / "sim-truth.jsonl")
    assert found["simulator"]["truth"] == found["listen"]["truth"] == found["report"]["truth"] == truth
    assert found["simulator"]["state_dir"] == str(tmp_path / "sim-state")
    assert found["simulator"]["token_file"] == found["report"]["token_file"] == str(tmp_path / "bootstrap-token")


def test_a_broker_named_in_pa_mqtt_url_wins_over_the_private_port(clean_env):
    clean_env.setenv("PA_MQTT_URL", "mqtt://broker.example:1885")
    clean_env.setenv("PA_MQTT_PORT", "1984")
    found = tool_defaults()
    assert found["simulator"]["broker"] == found["listen"]["broker"] == "mqtt://broker.example:1885"


def test_the_simulator_finds_the_broker_controller_and_instance_dir_the_controller_uses(clean_env, tmp_path):
    clean_env.setenv("PA_INSTANCE_DIR", str(tmp_path))
    for env in ({}, {"PA_MQTT_PORT": "1984", "PA_HTTP_PORT": "5100"}, {"PA_MQTT_URL": "mqtt://10.0.0.2:1883"}):
        for name, value in env.items():
            clean_env.setenv(name, value)
        settings = Settings.from_env(os.environ)
        assert defaults.broker_url() == settings.mqtt_url
        assert defaults.api_url() == settings.public_url
        assert defaults.instance_dir().resolve() == settings.instance_dir


def test_the_tools_log_in_with_make_runs_passwords_when_it_left_them(clean_env, tmp_path):
    clean_env.setenv("PA_INSTANCE_DIR", str(tmp_path))
    bench = ["--cid", "om-tho-001"]
    assert cli.build_parser().parse_args([]).credentials is None
    assert listen.build_parser().parse_args(bench).credentials is None and defaults.monitor_login() is None
    (tmp_path / "sim-credentials.csv").write_text("cid,password\nom-tho-001,pw\n")
    (tmp_path / "broker").mkdir()
    (tmp_path / "broker" / "monitor.password").write_text("monitor-pw\n")
    assert cli.build_parser().parse_args([]).credentials == str(tmp_path / "sim-credentials.csv")
    assert listen.build_parser().parse_args(bench).credentials == str(tmp_path / "sim-credentials.csv")
    assert defaults.monitor_login() == ("loanet.monitor", "monitor-pw")
    clean_env.setenv("PA_BROKER_DIR", str(tmp_path / "elsewhere"))
    assert defaults.monitor_login() is None, "PA_BROKER_DIR names where the broker's files are"


def test_the_monitor_account_is_the_one_the_controller_generates():
    from pa_controller.messaging.broker.accounts import MONITOR

    assert defaults.MONITOR_USERNAME == MONITOR


def test_help_shows_the_effective_default_and_hides_a_password(clean_env, capsys):
    clean_env.setenv("PA_MQTT_URL", "mqtt://loanet:s3cret@127.0.0.1:1985")
    clean_env.setenv("PA_HTTP_PORT", "5100")
    assert sim_main(["--help"]) == 0
    simulator_help = " ".join(capsys.readouterr().out.split())
    assert "(default mqtt://loanet:***@127.0.0.1:1985; make run's: $PA_MQTT_URL" in simulator_help
    assert "s3cret" not in simulator_help
    listen_help = " ".join(listen.build_parser().format_help().split())
    assert "(default mqtt://loanet:***@127.0.0.1:1985;" in listen_help and "s3cret" not in listen_help
    assert "(default http://127.0.0.1:5100; make run's" in " ".join(report.build_parser().format_help().split())


def test_api_without_a_token_reads_the_bootstrap_token_or_says_where_it_looked(clean_env, tmp_path, capsys):
    clean_env.setenv("PA_INSTANCE_DIR", str(tmp_path))
    with pytest.raises(SystemExit) as stopped:
        cli.main(["--api"])
    assert stopped.value.code == 2
    assert f"--api needs a token: cannot read the API token from {tmp_path / 'bootstrap-token'}" in (
        capsys.readouterr().err)


@pytest.mark.timeout(60)
def test_processes_and_their_children_use_make_runs_broker_and_instance_dir(broker, tmp_path):
    """`--processes 2` without --broker, --credentials, --truth or --state-dir: every child finds them from the
    environment, the passwords where make run writes them."""
    instance = tmp_path / "instance"
    instance.mkdir()
    shutil.copy(broker.credentials_file, instance / "sim-credentials.csv")
    env = {**os.environ, "PYTHONPATH": str(REPO), "PA_MQTT_PORT": str(broker.port), "PA_INSTANCE_DIR": str(instance),
           "PA_HTTP_PORT": str(free_port())}  # no controller there: the children start without keys all the same
    env.pop("PA_MQTT_URL", None)
    command = [sys.executable, "-m", "firmware_sim", "--processes", "2", "--clusters", "4", "--seed", "1"]
    process = subprocess.Popen(command, cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True)
    seen = []
    try:
        while not any("all 2 shards: connected 4/4 in" in line for line in seen):
            line = process.stderr.readline()
            assert line, "".join(seen)
            seen.append(line)
        process.send_signal(signal.SIGTERM)
        assert process.wait(20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert sum(f"against 127.0.0.1:{broker.port}" in line for line in seen) == 2, "".join(seen)
    assert (instance / "sim-truth.jsonl").is_file() and (instance / "sim-state").is_dir()
