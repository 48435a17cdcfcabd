"""`make run`: the whole system on one machine, in the foreground, until Ctrl-C or SIGTERM; `make run-prod`
(`--prod`): the production topology on one machine (PROD_DEFAULTS: PostgreSQL, four web workers, two ingest
processes beside the scheduler).

Reads and checks its variables first (an unknown PA_SIM_SCENARIO stops it before anything starts), then
starts a private Mosquitto (unless PA_MQTT_URL names a broker), migrates the database, seeds the fleet,
makes sure a command key exists, starts the web server, the scheduler and the simulated clusters (with the
scenario's faults, trusting the first key list they fetch), writes the bootstrap token, and shows the fleet
coming online.

Every child runs in a session of its own, so the Ctrl-C a terminal sends to its foreground process group
reaches this launcher alone, and the launcher stops the children in order: the simulator first (its
clusters' wills reach a controller still listening), then the web server and the scheduler, the broker
last. A setup command running at that moment (a migration) is left to finish. The signal handlers only
set a flag, so no process prints a KeyboardInterrupt traceback, whenever the key is pressed.
"""

import logging
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from pa_controller import clock
from pa_controller.messaging.broker.accounts import MONITOR
from pa_controller.messaging.broker.config import BrokerFiles
from pa_controller.settings import Settings, SettingsError

log = logging.getLogger("loanet")
ROOT = Path(__file__).resolve().parent.parent
FLEET_CSV = ROOT / "pa_controller" / "data" / "o-mon-fleet.csv"
ACCESS_LOG = "web-access.log"  # in the instance dir: a line per request has no place on the terminal
# gunicorn's default line without the query string: a calendar link's `?key=` is a secret, kept out of the log.
ACCESS_FORMAT = '%(h)s %(l)s %(u)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s "%(f)s" "%(a)s"'
TICK_S = 0.5  # how often the launcher looks at its children and at the stop flag
FAST_POLL_S = 1.0  # the fleet count while the fleet comes online…
SLOW_POLL_S = 30.0  # …and once it is whole
FAST_POLL_FOR_S = 120.0  # a scenario may keep part of the fleet down for good: past this, poll slowly all the same
STEP_GRACE_S = 60.0  # a setup command running when the stop came is left this long to finish
STOP_GRACE_S = 15.0  # each child, after SIGTERM, before SIGKILL
# The ingest processes after the scheduler: the last reports of the clusters that stopped reach one still listening.
STOP_ORDER = (("simulator",), ("web", "scheduler"), ("ingest",), ("mosquitto",))
WEB_WORKERS = 2  # make run's gunicorn workers (of 8 threads each)
# make run-prod's defaults, each overridden by the caller's environment: the topology of deploy/ on one machine.
PROD_DEFAULTS = {
    "DATABASE_URL": "postgresql+psycopg://postgres@127.0.0.1:5432/loanet_prod",
    "PA_INSTANCE_DIR": "instance-prod",
    "PA_INGEST_WORKERS": "2",
    "PA_WEB_WORKERS": "4",
}


class StackError(RuntimeError):
    """Part of the stack failed to start or stopped by itself; the message names it."""


@dataclass(frozen=True)
class LaunchSettings:
    """make run's variables (README, "Configuration"): the controller's Settings and the simulator's three,
    read and checked once, before anything starts."""

    controller: Settings
    clusters: int
    scenario: str | None = None
    seed: int | None = None
    web_workers: int = WEB_WORKERS

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "LaunchSettings":
        """Read the variables; raise one SettingsError naming each that cannot be used."""
        problems = []
        try:
            controller = Settings.from_env(env)
        except SettingsError as exc:
            controller, problems = None, list(exc.problems)
        clusters = _count(env, "PA_SIM_CLUSTERS", 456, problems)
        web_workers = _count(env, "PA_WEB_WORKERS", WEB_WORKERS, problems)
        if web_workers == 0:
            problems.append("PA_WEB_WORKERS must be 1 or more: no web worker, no controller")
        seed = _count(env, "PA_SIM_SEED", None, problems)
        scenario = env.get("PA_SIM_SCENARIO") or None
        if scenario is not None and clusters == 0:
            problems.append(f"PA_SIM_SCENARIO={scenario} needs simulated clusters, and PA_SIM_CLUSTERS=0 starts "
                            "none: unset PA_SIM_CLUSTERS or give a number")
        elif scenario is not None:
            try:
                scenario = checked_scenario(scenario)
            except SettingsError as exc:
                problems += exc.problems
        if problems:
            raise SettingsError(problems)
        return cls(controller=controller, clusters=clusters, scenario=scenario, seed=seed, web_workers=web_workers)

    @property
    def instance(self) -> Path:
        return self.controller.instance_dir

    @property
    def http_port(self) -> int:
        return self.controller.http_port

    @property
    def mqtt_port(self) -> int:
        return self.controller.mqtt_port

    @property
    def mqtt_url(self) -> str:
        return self.controller.mqtt_url

    @property
    def private_broker(self) -> bool:
        return self.controller.private_broker

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def credentials_file(self) -> Path:
        """The simulated clusters' broker passwords, issued by make run (the CSV `firmware_sim --credentials` reads)."""
        from firmware_sim import defaults as sim_defaults

        return sim_defaults.credentials_path({"PA_INSTANCE_DIR": str(self.instance)})

    def child_env(self, env: Mapping[str, str]) -> dict[str, str]:
        """Return the environment of every child: the caller's, with these settings made explicit.

        The private broker is named by its port, not by PA_MQTT_URL, so that each child knows it is make run's
        own (whose accounts the worker keeps); no password travels in the environment.
        """
        broker = ({"PA_MQTT_PORT": str(self.mqtt_port)} if self.private_broker else {"PA_MQTT_URL": self.mqtt_url})
        children = {key: value for key, value in env.items() if key != "PA_MQTT_URL" or not self.private_broker}
        return {**children, "PA_INSTANCE_DIR": str(self.instance), **broker, "PA_HTTP_PORT": str(self.http_port),
                "FLASK_APP": "wsgi", "PYTHONUNBUFFERED": "1"}

    def simulator_command(self) -> list[str]:
        """Return the command line of the simulated fleet, with the scenario, seed and passwords asked for."""
        from firmware_sim import defaults as sim_defaults

        env = {"PA_INSTANCE_DIR": str(self.instance)}
        command = [sys.executable, "-m", "firmware_sim", "--clusters", str(self.clusters), "--broker", self.mqtt_url,
                   "--truth", str(sim_defaults.truth_path(env)), "--state-dir", str(sim_defaults.state_dir(env)),
                   "--keys-url", sim_defaults.keys_url({"PA_HTTP_PORT": str(self.http_port)})]
        if self.controller.manage_broker:
            command += ["--credentials", str(self.credentials_file)]
        if self.scenario is not None:
            command += ["--scenario", self.scenario]
        if self.seed is not None:
            command += ["--seed", str(self.seed)]
        return command


def _count(env: Mapping[str, str], name: str, default: int | None, problems: list[str]) -> int | None:
    text = env.get(name, "").strip()
    if not text:
        return default
    if not (text.isascii() and text.isdigit()):
        problems.append(f"{name} must be a whole number, 0 or more, not {text!r}")
        return default
    return int(text)


def checked_scenario(name: str) -> str:
    """Return the scenario as the simulator will find it; raise SettingsError, listing the library, if it cannot run."""
    from firmware_sim.faults import ScenarioError, load_scenario  # the simulator's own check, before anything starts

    try:
        load_scenario(name)
    except ScenarioError as exc:
        raise SettingsError([f"PA_SIM_SCENARIO: {exc} (`.venv/bin/python -m firmware_sim --list-scenarios` "
                             "describes each)"]) from None
    path = Path(name)
    return str(path.resolve()) if path.is_file() else name  # the simulator runs in the repository


def poll_interval(whole: bool, elapsed_s: float) -> float:
    """Return how long until the next fleet count: every second while the fleet comes online, then every 30 s."""
    return SLOW_POLL_S if whole or elapsed_s >= FAST_POLL_FOR_S else FAST_POLL_S


def fleet_counts(app) -> tuple[int, int]:
    """Return (online, in service) as GET /api/v1/clusters judges them, straight from the database.

    That answer is 82 KB for Ô Môn, and a line in the access log each time; the counts are two small queries.
    """
    from pa_controller.domain import ClusterStatus
    from pa_controller.extensions import db
    from pa_controller.services import fleet
    from pa_controller.settings import of as settings_of

    with app.app_context():
        try:
            wards = fleet.status_by_ward(None, clock.now(), settings_of(app).heartbeat_s)
        finally:
            db.session.remove()
    return sum(counts[ClusterStatus.ONLINE.value] for _, counts, _ in wards), sum(total for *_, total in wards)


class Stack:
    """The children of one `make run`, started in order and stopped in order."""

    def __init__(self, settings: LaunchSettings, env: Mapping[str, str], stopping: threading.Event):
        self.settings = settings
        self.env = settings.child_env(env)
        self.stopping = stopping
        self.processes: list[tuple[str, subprocess.Popen]] = []

    def spawn(self, name: str, *args: str) -> subprocess.Popen:
        """Start a long-running child in a session of its own (a terminal's Ctrl-C reaches the launcher only)."""
        log.info("starting %s", name)
        process = subprocess.Popen(args, cwd=ROOT, env=self.env, start_new_session=True)
        self.processes.append((name, process))
        return process

    def flask(self, *args: str) -> None:
        """Run one setup command to its end, even when asked to stop meanwhile (a migration cut short is worse)."""
        process = subprocess.Popen([sys.executable, "-m", "flask", *args], cwd=ROOT, env=self.env,
                                   start_new_session=True)
        what = f"flask {' '.join(args[:2])}"
        deadline = None
        while True:
            try:
                code = process.wait(TICK_S)
                break
            except subprocess.TimeoutExpired:
                pass
            if self.stopping.is_set() and deadline is None:
                log.info("stopping once `%s` has finished", what)
                deadline = time.monotonic() + STEP_GRACE_S
            if deadline is not None and time.monotonic() > deadline:
                log.warning("`%s` did not finish within %.0f s; stopping it", what, STEP_GRACE_S)
                os.killpg(process.pid, signal.SIGTERM)
                process.wait()
                return
        if code != 0 and not self.stopping.is_set():
            raise StackError(f"`{what}` exited with code {code}")

    def up(self) -> None:
        """Start everything in order, then watch the fleet; return when asked to stop."""
        settings = self.settings
        settings.instance.mkdir(parents=True, exist_ok=True)
        settings.instance.chmod(0o700)  # keys, passwords, tokens, the database: make run's own, its owner's only
        ensure_database(settings.controller.database_url)
        self.flask("db", "upgrade")
        if self.stopping.is_set():
            return
        self.flask("pa", "fleet", "import", str(FLEET_CSV))
        if self.stopping.is_set():
            return
        if settings.controller.manage_broker:
            self.provision_clusters()
        if settings.private_broker and not self.stopping.is_set():
            self.flask("pa", "broker-config")  # config, accounts from the fleet, TLS files of the development CA
            self.spawn("mosquitto", _mosquitto(), "-c", str(BrokerFiles(settings.controller.broker_dir).conf))
        if not self.stopping.is_set():
            self.flask("pa", "keys", "init")  # before the scheduler: it signs every command it publishes
        if self.stopping.is_set():
            return
        self.spawn("web", *web_command(settings.http_port, settings.instance / ACCESS_LOG, settings.web_workers))
        self.spawn("scheduler", sys.executable, "-m", "flask", "pa", "scheduler")
        for number in range(1, settings.controller.ingest_workers + 1):
            self.spawn(f"ingest {number}", sys.executable, "-m", "flask", "pa", "ingest", "--worker", str(number))
        if not self.wait_for_web():
            return
        token_file = settings.instance / "bootstrap-token"
        self.flask("pa", "bootstrap", "--token-file", str(token_file), "--demo-users")
        if self.stopping.is_set():
            return
        if settings.clusters:
            self.spawn("simulator", *settings.simulator_command())
        self.greet(token_file)
        self.watch()

    def provision_clusters(self) -> None:
        """Give every cluster a broker password the simulator holds: new ones to clusters without, and again to those
        whose row in the credentials file is missing or stale (a file deleted, a password reissued elsewhere)."""
        from firmware_sim.roster import RosterError, load_credentials

        path = self.settings.credentials_file
        self.flask("pa", "broker", "credentials", "--missing", "--out", str(path))
        try:
            held = load_credentials(path) if path.exists() else {}
        except RosterError as exc:
            raise StackError(f"{exc}: delete it and start again (its clusters get new passwords)") from None
        stale = _stale_passwords(_controller_app(self.settings.controller), held)
        if stale and not self.stopping.is_set():
            log.info("issuing new broker passwords to %d clusters missing from %s", len(stale), path)
            self.flask("pa", "broker", "credentials", "--reissue", *[a for cid in stale for a in ("--cluster", cid)],
                       "--out", str(path))

    def greet(self, token_file: Path) -> None:
        settings = self.settings
        scenario = f", scenario {settings.scenario}" if settings.scenario else ""
        print(f"\nLoaNet: {settings.base_url}  (log in as admin; the password is in "
              f"{settings.instance / 'admin-password'}; an officer, an approver and a technician in "
              f"{settings.instance / 'demo-users'})")
        print(f"API token: {token_file}   e.g.  curl -H \"Authorization: Bearer $(cat {token_file})\" "
              f"{settings.base_url}/api/v1/wards")
        ingest = settings.controller.ingest_workers
        reports = f"{ingest} ingest processes (flask pa ingest)" if ingest else "the scheduler"
        database = make_url(settings.controller.database_url).render_as_string(hide_password=True)
        print(f"Web: gunicorn, {settings.web_workers} workers; reports stored by {reports}; database {database}")
        print(f"{settings.clusters} simulated clusters{scenario}, truth log {settings.instance / 'sim-truth.jsonl'}; "
              f"web access log {settings.instance / ACCESS_LOG}", flush=True)
        if settings.private_broker:
            files = BrokerFiles(settings.controller.broker_dir)
            print(f"Broker: {settings.mqtt_url} and mqtts://127.0.0.1:{settings.controller.mqtts_port} (CA "
                  f"{files.ca_cert}), logins only; cluster passwords in {settings.credentials_file}, the read-only "
                  f"{MONITOR} account's in {files.monitor_secret}", flush=True)
        print(flush=True)

    def wait_for_web(self, timeout_s: float = 60) -> bool:
        """Wait until the controller answers; False if asked to stop first."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.check_children()
            try:
                # base_url is always http://127.0.0.1:<port>, built here: no file:// or other scheme can reach it
                urllib.request.urlopen(f"{self.settings.base_url}/api/v1/health", timeout=1).read()  # nosec B310
                return True
            except OSError:
                if self.stopping.wait(0.3):
                    return False
        raise StackError(f"the controller did not answer on {self.settings.base_url} within {timeout_s:.0f} s")

    def watch(self) -> None:
        """Show the fleet coming online (a line when the count changes) until asked to stop."""
        from sqlalchemy.exc import SQLAlchemyError

        app = _controller_app(self.settings.controller)
        started = time.monotonic()
        next_poll, shown, whole = started, None, False
        while not self.stopping.is_set():
            self.check_children()
            now = time.monotonic()
            if now >= next_poll:
                try:
                    online, total = fleet_counts(app)
                    line = f"{online}/{total} clusters online"
                    whole = whole or online >= min(self.settings.clusters, total)
                except SQLAlchemyError as exc:
                    line = f"the database does not answer: {type(exc).__name__}"
                if line != shown:
                    print(f"[{now - started:5.1f} s] {line}", flush=True)
                    shown = line
                next_poll = now + poll_interval(whole, now - started)
            self.stopping.wait(min(TICK_S, max(0.0, next_poll - time.monotonic())))

    def check_children(self) -> None:
        for name, process in self.processes:
            if process.poll() is not None:
                raise StackError(f"{name} exited with code {process.returncode}")

    def down(self) -> None:
        """Stop the children in STOP_ORDER, each group to its end before the next."""
        for names in STOP_ORDER:
            group = [(name, p) for name, p in self.processes if name.split()[0] in names and p.poll() is None]
            for name, process in group:
                log.info("stopping %s", name)
                os.killpg(process.pid, signal.SIGTERM)
            for name, process in group:
                try:
                    process.wait(STOP_GRACE_S)
                except subprocess.TimeoutExpired:
                    log.warning("%s did not stop within %.0f s; killing it", name, STOP_GRACE_S)
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()


def web_command(http_port: int, access_log: Path, workers: int = WEB_WORKERS) -> list[str]:
    """Return the command line of the web tier: gunicorn, `workers` workers of eight threads, on 127.0.0.1."""
    return [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{http_port}",
            "--workers", str(workers), "--threads", "8", "--timeout", "120",  # a programme is composed in the request
            "--access-logfile", str(access_log), "--access-logformat", ACCESS_FORMAT,
            "--log-level", "warning", "wsgi:app"]


def ensure_database(url: str) -> None:
    """Create the PostgreSQL database `url` names if the server has none of that name (make run-prod's
    `loanet_prod`); SQLite makes its file itself."""
    from sqlalchemy import create_engine, text

    target = make_url(url)
    if target.get_backend_name() != "postgresql" or not target.database:
        return
    server = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with server.connect() as connection:
            if connection.scalar(text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": target.database}):
                return
            quoted = connection.dialect.identifier_preparer.quote(target.database)
            connection.execute(text("CREATE DATABASE " + quoted))  # nosec B608: a quoted identifier, not a value
            log.info("created the PostgreSQL database %s", target.database)
    except Exception as exc:
        raise StackError(f"cannot reach or create the database {target.render_as_string(hide_password=True)}: "
                         f"{exc.__class__.__name__}: {str(exc).splitlines()[0]} (is PostgreSQL running?)") from None
    finally:
        server.dispose()


def _stale_passwords(app, held: dict[str, str]) -> list[str]:
    from pa_controller.extensions import db
    from pa_controller.services import broker_access

    with app.app_context():
        try:
            return broker_access.unmatched(held)
        finally:
            db.session.remove()


def _controller_app(settings: Settings):
    """The controller app in this process, on the stack's database, for counting the fleet (it starts nothing)."""
    from pa_controller import create_app

    return create_app(settings)


def _mosquitto() -> str:
    for candidate in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto", "mosquitto"):
        if candidate == "mosquitto" or Path(candidate).exists():
            return candidate
    return "mosquitto"


def main(argv: list[str] | None = None) -> int:
    """`make run`, or with `--prod` `make run-prod`."""
    argv = sys.argv[1:] if argv is None else argv
    if argv not in ([], ["--prod"]):
        print("usage: python -m pa_controller.stack [--prod]", file=sys.stderr)
        return 2
    environ = {**PROD_DEFAULTS, **os.environ} if argv == ["--prod"] else dict(os.environ)
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        if signal.getsignal(signum) is not signal.SIG_IGN:  # a shell's background job keeps ignoring Ctrl-C
            signal.signal(signum, lambda *_: stopping.set())
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s")
    log.setLevel(logging.INFO)  # the launcher's own lines; the libraries it loads to count the fleet keep quiet
    clock.log_in_local_time()
    try:
        settings = LaunchSettings.from_env(environ)  # the one read of the environment
    except SettingsError as exc:
        log.error("%s", exc)
        return 2
    stack = Stack(settings, environ, stopping)
    try:
        stack.up()
    except StackError as exc:
        log.error("%s", exc)
        return 1
    finally:
        if stopping.is_set():
            print("\nstopping…", flush=True)
        stack.down()
    return 0


if __name__ == "__main__":
    sys.exit(main())
