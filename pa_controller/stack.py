"""`make run`: the whole system on one machine, in the foreground, until Ctrl-C.

Starts a private Mosquitto (unless PA_MQTT_URL names a broker), migrates the
database, seeds the fleet, starts the web server, the scheduler and the
simulated clusters, writes the bootstrap token, and shows the fleet coming online.
"""

import json
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from pa_controller.messaging import broker_config

log = logging.getLogger("loanet")
ROOT = Path(__file__).resolve().parent.parent
FLEET_CSV = ROOT / "pa_controller" / "data" / "o-mon-fleet.csv"


class Stack:
    def __init__(self):
        env = os.environ
        self.instance = Path(env.get("PA_INSTANCE_DIR", "instance")).resolve()
        self.http_port = int(env.get("PA_HTTP_PORT", "5000"))
        self.mqtt_port = int(env.get("PA_MQTT_PORT", "1884"))
        self.mqtt_url = env.get("PA_MQTT_URL") or f"mqtt://127.0.0.1:{self.mqtt_port}"
        self.clusters = int(env.get("PA_SIM_CLUSTERS", "456"))
        self.base_url = f"http://127.0.0.1:{self.http_port}"
        self.env = {**env, "PA_INSTANCE_DIR": str(self.instance), "PA_MQTT_URL": self.mqtt_url,
                    "PA_HTTP_PORT": str(self.http_port), "FLASK_APP": "wsgi", "PYTHONUNBUFFERED": "1"}
        self.processes: list[tuple[str, subprocess.Popen]] = []

    def spawn(self, name: str, *args: str) -> subprocess.Popen:
        log.info("starting %s", name)
        process = subprocess.Popen(args, cwd=ROOT, env=self.env, start_new_session=True)
        self.processes.append((name, process))
        return process

    def flask(self, *args: str) -> None:
        subprocess.run([sys.executable, "-m", "flask", *args], cwd=ROOT, env=self.env, check=True)

    def up(self) -> None:
        self.instance.mkdir(parents=True, exist_ok=True)
        if not os.environ.get("PA_MQTT_URL"):
            conf = broker_config.write(self.instance / "mosquitto.conf", self.mqtt_port)
            self.spawn("mosquitto", _mosquitto(), "-c", str(conf))
        self.flask("db", "upgrade")
        self.flask("pa", "fleet", "import", str(FLEET_CSV))
        self.spawn("web", sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{self.http_port}",
                   "--workers", "2", "--threads", "8", "--timeout", "120",  # a programme is composed in the request
                   "--access-logfile", "-", "--log-level", "warning", "wsgi:app")
        self.spawn("scheduler", sys.executable, "-m", "flask", "pa", "scheduler")
        self.wait_for_web()
        token_file = self.instance / "bootstrap-token"
        self.flask("pa", "bootstrap", "--token-file", str(token_file))
        if self.clusters:
            self.spawn("simulator", sys.executable, "-m", "firmware_sim", "--clusters", str(self.clusters),
                       "--broker", self.mqtt_url, "--truth", str(self.instance / "sim-truth.jsonl"),
                       "--state-dir", str(self.instance / "sim-state"))
        print(f"\nLoaNet: {self.base_url}  (log in as admin; the password is in {self.instance / 'admin-password'})")
        print(f"API token: {token_file}   e.g.  curl -H \"Authorization: Bearer $(cat {token_file})\" "
              f"{self.base_url}/api/v1/clusters\n", flush=True)
        self.watch(token_file.read_text().strip())

    def wait_for_web(self, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.check_children()
            try:
                urllib.request.urlopen(f"{self.base_url}/api/v1/health", timeout=1).read()
                return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"the controller did not answer on {self.base_url} within {timeout_s:.0f} s")

    def watch(self, token: str) -> None:
        """Show the fleet coming online, then a status line every 30 s."""
        started, last, reported_all = time.monotonic(), "", False
        while True:
            self.check_children()
            line = self.fleet_line(token)
            elapsed = time.monotonic() - started
            if line != last and (not reported_all or int(elapsed) % 30 == 0):
                print(f"[{elapsed:5.1f} s] {line}", flush=True)
                last = line
            reported_all = reported_all or line.startswith(f"{self.clusters}/")
            time.sleep(1)

    def fleet_line(self, token: str) -> str:
        headers = {"Authorization": f"Bearer {token}"}
        request = urllib.request.Request(f"{self.base_url}/api/v1/clusters", headers=headers)
        try:
            clusters = json.load(urllib.request.urlopen(request, timeout=5))
        except OSError as exc:
            return f"controller not answering: {exc}"
        online = sum(c["status"] == "online" for c in clusters)
        return f"{online}/{len(clusters)} clusters online"

    def check_children(self) -> None:
        for name, process in self.processes:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with code {process.returncode}")

    def down(self) -> None:
        for name, process in reversed(self.processes):
            if process.poll() is None:
                log.info("stopping %s", name)
                os.killpg(process.pid, signal.SIGTERM)
        for _, process in self.processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


def _mosquitto() -> str:
    for candidate in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto", "mosquitto"):
        if candidate == "mosquitto" or Path(candidate).exists():
            return candidate
    return "mosquitto"


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    stack = Stack()
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt))
    try:
        stack.up()
    except KeyboardInterrupt:
        print("\nstopping…", flush=True)
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        log.error("%s", exc)
        return 1
    finally:
        stack.down()
    return 0


if __name__ == "__main__":
    sys.exit(main())
