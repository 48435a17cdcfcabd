"""`make run` (pa_controller/stack.py): its variables, the simulator it starts, and a quiet watch of the fleet."""

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from firmware_sim import defaults as sim_defaults
from firmware_sim.faults import library_names
from pa_controller import clock
from pa_controller.domain import ClusterStatus
from pa_controller.extensions import db
from pa_controller.models import ClusterState
from pa_controller.settings import Settings, SettingsError
from pa_controller.settings import of as settings_of
from pa_controller.stack import (
    FAST_POLL_FOR_S,
    FAST_POLL_S,
    SLOW_POLL_S,
    LaunchSettings,
    fleet_counts,
    launch_environment,
    poll_interval,
    web_command,
)

ROOT = Path(__file__).resolve().parent.parent


def test_make_run_defaults_are_the_ones_the_readme_and_the_simulator_state():
    settings = LaunchSettings.from_env({})
    assert (settings.http_port, settings.mqtt_port, settings.clusters) == (5000, 1884, 456)
    assert settings.instance == Path("instance").resolve() and settings.private_broker
    assert settings.mqtt_url == sim_defaults.broker_url({}) == "mqtt://127.0.0.1:1884"
    assert settings.base_url == sim_defaults.api_url({}) == "http://127.0.0.1:5000"
    assert (settings.scenario, settings.seed) == (None, None)


def test_the_simulator_is_started_with_the_scenario_and_seed_asked_for(tmp_path):
    settings = LaunchSettings.from_env({"PA_SIM_SCENARIO": "power-cut-thoi-hoa", "PA_SIM_SEED": "7",
                                  "PA_SIM_CLUSTERS": "40", "PA_MQTT_PORT": "1984", "PA_INSTANCE_DIR": str(tmp_path)})
    command = settings.simulator_command()
    assert command[:3] == [sys.executable, "-m", "firmware_sim"]
    options = dict(zip(command[3::2], command[4::2], strict=True))
    assert options == {"--clusters": "40", "--broker": "mqtt://127.0.0.1:1984", "--scenario": "power-cut-thoi-hoa",
                       "--seed": "7", "--truth": str(tmp_path / "sim-truth.jsonl"),
                       "--state-dir": str(tmp_path / "sim-state"),
                       "--keys-url": "http://127.0.0.1:5000/api/v1/keys/commands",
                       "--credentials": str(tmp_path / "sim-credentials.csv")}


def test_the_children_name_make_runs_own_broker_by_its_port_and_carry_no_broker_password(tmp_path):
    """Named by PA_MQTT_URL, the private broker would look like another's to the worker, which keeps its accounts."""
    settings = LaunchSettings.from_env({"PA_MQTT_PORT": "1984", "PA_INSTANCE_DIR": str(tmp_path)})
    env = settings.child_env({"PA_MQTT_URL": "", "HOME": "/home/x"})
    assert "PA_MQTT_URL" not in env and env["PA_MQTT_PORT"] == "1984" and env["HOME"] == "/home/x"
    assert Settings.from_env(env).manage_broker
    external = LaunchSettings.from_env({"PA_MQTT_URL": "mqtts://broker.example:8883"})
    assert external.child_env({})["PA_MQTT_URL"] == "mqtts://broker.example:8883"
    assert not external.controller.manage_broker and "--credentials" not in external.simulator_command()


def test_without_a_scenario_the_simulator_runs_the_fleet_as_it_is():
    command = LaunchSettings.from_env({}).simulator_command()
    assert "--scenario" not in command and "--seed" not in command


def test_a_scenario_file_is_passed_with_its_full_path(tmp_path, monkeypatch):
    (tmp_path / "storm.toml").write_text('name = "storm"\n[description]\nvi = "bão"\nen = "storm"\n'
                                         '[[faults]]\nkind = "offline"\ncount = 1\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert LaunchSettings.from_env({"PA_SIM_SCENARIO": "storm.toml"}).scenario == str(tmp_path / "storm.toml")


def test_an_unknown_scenario_is_refused_with_the_names_of_the_library():
    with pytest.raises(SettingsError) as refused:
        LaunchSettings.from_env({"PA_SIM_SCENARIO": "no-such-day"})
    message = str(refused.value)
    assert message.startswith("PA_SIM_SCENARIO: no-such-day: is not a scenario of the library; choose one of ")
    assert all(name in message for name in library_names()) and "--list-scenarios" in message


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PA_SIM_SCENARIO": "normal-day", "PA_SIM_CLUSTERS": "0"}, "PA_SIM_SCENARIO=normal-day needs simulated"),
        ({"PA_SIM_CLUSTERS": "many"}, "PA_SIM_CLUSTERS must be a whole number, 0 or more, not 'many'"),
        ({"PA_HTTP_PORT": "0"}, "PA_HTTP_PORT must be a port number from 1 to 65535, not '0'"),
        ({"PA_SIM_SEED": "-1"}, "PA_SIM_SEED must be a whole number, 0 or more, not '-1'"),
    ],
)
def test_a_variable_that_cannot_be_used_is_named(env, message):
    with pytest.raises(SettingsError, match=message):
        LaunchSettings.from_env(env)


@pytest.mark.timeout(30)
def test_an_unknown_scenario_stops_make_run_before_anything_starts(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "PA_SIM_SCENARIO": "no-such-day", "PA_INSTANCE_DIR": str(tmp_path / "instance")}
    done = subprocess.run([sys.executable, "-m", "pa_controller.stack"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=20)
    assert done.returncode == 2
    assert "choose one of clock-skew" in done.stderr and "Traceback" not in done.stderr
    assert "starting" not in done.stderr + done.stdout and not (tmp_path / "instance").exists()


def test_the_launcher_counts_the_fleet_online_as_the_api_lists_it(seeded, admin_auth):
    """The count comes from the database, so the launcher never fetches the 82 KB cluster list."""
    now = clock.now()
    heartbeat_s = settings_of(seeded).heartbeat_s
    states = db.session.query(ClusterState).order_by(ClusterState.cluster_id).limit(4).all()
    for state, silent_s, online in zip(states, (0, 0, 2.5 * heartbeat_s, 0), (True, True, True, False), strict=True):
        state.status = ClusterStatus.ONLINE if online else ClusterStatus.OFFLINE
        state.boot_id, state.online, state.status_at = "b", online, now - timedelta(seconds=silent_s)
        state.heartbeat_at = state.last_seen = now - timedelta(seconds=silent_s)
    db.session.commit()
    listed = seeded.test_client().get("/api/v1/clusters", headers=admin_auth).get_json()
    assert fleet_counts(seeded) == (sum(c["status"] == "online" for c in listed), len(listed)) == (2, 456)


def test_the_launcher_polls_every_second_until_the_fleet_is_whole_then_every_30_s():
    assert poll_interval(whole=False, elapsed_s=3) == FAST_POLL_S == 1
    assert poll_interval(whole=True, elapsed_s=3) == SLOW_POLL_S == 30
    assert poll_interval(whole=False, elapsed_s=FAST_POLL_FOR_S) == SLOW_POLL_S, "a fleet kept down by a fault"


def test_make_run_prod_runs_four_web_workers_two_ingest_processes_on_postgresql_unless_told_otherwise(tmp_path):
    prod = LaunchSettings.from_env(launch_environment({}, prod=True))
    assert (prod.web_workers, prod.controller.ingest_workers) == (4, 2)
    assert prod.controller.database_url.startswith("postgresql+psycopg://") and prod.instance.name == "instance-prod"
    mine = LaunchSettings.from_env(launch_environment({"PA_INGEST_WORKERS": "3", "PA_INSTANCE_DIR": str(tmp_path)},
                                                      prod=True))
    assert (mine.controller.ingest_workers, mine.instance) == (3, tmp_path)
    plain = LaunchSettings.from_env(launch_environment({}, prod=False))
    assert (plain.web_workers, plain.controller.ingest_workers) == (2, 0)
    command = web_command(5000, tmp_path / "access.log", prod.web_workers)
    assert command[command.index("--workers") + 1] == "4"


def test_bad_topology_variables_are_named_before_anything_starts():
    with pytest.raises(SettingsError) as refused:
        LaunchSettings.from_env({"PA_WEB_WORKERS": "0", "PA_INGEST_WORKERS": "lots"})
    assert any(line.startswith("PA_WEB_WORKERS must be 1 or more") for line in refused.value.problems)
    assert any(line.startswith("PA_INGEST_WORKERS must be a whole number") for line in refused.value.problems)

