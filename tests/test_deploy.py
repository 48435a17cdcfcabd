"""deploy/ matches the code: the units run commands that exist, the environment example is valid and holds no
secret, and Mosquitto 2.0 starts on the production configuration with logins only."""

import configparser
import getpass
import shlex
import socket
import subprocess
import time
from pathlib import Path

from pa_controller.cli import pa
from pa_controller.messaging.broker.accounts import ingest_username
from pa_controller.messaging.broker.tls import ensure_development_ca
from pa_controller.settings import CONTROLLER_ACCOUNT, Settings
from tests.support.broker import Broker, connack, free_port, wait_for_login

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"


def _unit(name: str) -> configparser.ConfigParser:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str
    unit.read_string((DEPLOY / "systemd" / name).read_text().replace("\\\n", " "))
    return unit


def test_the_units_run_the_scheduler_the_ingest_processes_and_four_web_workers():
    scheduler = shlex.split(_unit("loanet-scheduler.service")["Service"]["ExecStart"])
    ingest = shlex.split(_unit("loanet-ingest@.service")["Service"]["ExecStart"])
    web = shlex.split(_unit("loanet-web.service")["Service"]["ExecStart"])
    assert scheduler[1:] == ["pa", "scheduler"] and pa.commands["scheduler"]
    assert ingest[1:] == ["pa", "ingest", "--worker", "%i"]
    assert "--worker" in {option for param in pa.commands["ingest"].params for option in param.opts}
    assert web[web.index("--workers") + 1] == "4" and web[-1] == "wsgi:app"


def test_the_environment_example_is_valid_names_two_ingest_processes_and_holds_no_secret():
    lines = [line for line in (DEPLOY / "loanet.env.example").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    env = dict(line.split("=", 1) for line in lines)
    settings = Settings.from_env(env)
    assert settings.ingest_workers == 2 and settings.manage_broker and not settings.private_broker
    assert not [name for name in env if any(word in name for word in ("PASSWORD", "SECRET", "TOKEN"))]
    assert "@" not in settings.mqtt_url


def test_mosquitto_starts_on_the_production_configuration_with_logins_only(tmp_path):
    broker = Broker(tmp_path / "broker")
    broker.write_accounts()
    ensure_development_ca(broker.files)
    plain, tls = free_port(), free_port()
    conf = (DEPLOY / "mosquitto" / "loanet.conf").read_text()
    conf = (conf.replace("/etc/mosquitto/loanet", str(broker.workdir))
            .replace("/etc/mosquitto/certs/loanet/fullchain.pem", str(broker.files.server_cert))
            .replace("/etc/mosquitto/certs/loanet/privkey.pem", str(broker.files.server_key))
            .replace("listener 1883 ", f"listener {plain} ")
            .replace("listener 8883 0.0.0.0", f"listener {tls} 127.0.0.1"))
    # Debian's mosquitto.conf says where it persists; Debian's broker runs as `mosquitto`, this one as the tester.
    conf += f"persistence_location {tmp_path}/\nuser {getpass.getuser()}\n"
    (tmp_path / "loanet.conf").write_text(conf)
    with open(tmp_path / "mosquitto.log", "wb") as log:
        process = subprocess.Popen(["/usr/sbin/mosquitto", "-c", str(tmp_path / "loanet.conf")], stdout=log,
                                   stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while True:  # the port opens once the config is read
            assert process.poll() is None, (tmp_path / "mosquitto.log").read_text()
            try:
                socket.create_connection(("127.0.0.1", plain), timeout=0.2).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "mosquitto opened no port within 10 s"
                time.sleep(0.05)
        wait_for_login("127.0.0.1", plain, CONTROLLER_ACCOUNT, broker.controller_password)
        assert connack("127.0.0.1", plain, None, None).is_failure
        assert not connack("127.0.0.1", tls, "om-tho-001", broker.passwords["om-tho-001"],
                           ca_certs=str(broker.files.ca_cert)).is_failure
        assert not connack("127.0.0.1", plain, ingest_username(2), broker.ingest_passwords[1]).is_failure
    finally:
        process.terminate()
        process.wait(5)

