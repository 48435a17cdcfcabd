"""A private Mosquitto on a free port, started from the project's own generated config: logins only.

Its accounts are those production has: the controller (`controller_url`), the read-only monitor, and one per
cluster (the Ô Môn fleet unless told which: `passwords`, `credentials_file`). Beside them, test-only accounts
with full rights stand in for a controller or play an attacker who owns the broker (`tester()`); they live in
the `.local` files production keeps for accounts it does not manage, so a worker rewriting the accounts from
the fleet keeps them too. Every account is also its client id (`use_username_as_clientid`), so each tester
account is handed out once and serves one connection.
"""

import csv
import itertools
import random
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterable
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

import paho.mqtt.client as mqtt

import pa_protocol as protocol
from firmware_sim import load_csv
from pa_controller.messaging.broker import accounts
from pa_controller.messaging.broker import config as broker_config
from pa_controller.messaging.broker.config import BrokerFiles, Listener, TlsListener
from pa_controller.messaging.broker.tls import ensure_development_ca
from pa_controller.settings import CONTROLLER_ACCOUNT

FLEET_CSV = Path(__file__).resolve().parents[2] / "pa_controller" / "data" / "o-mon-fleet.csv"
TESTERS_AT_START = 6  # enough for most tests; more are added with a reload
INGEST_ACCOUNTS = 2  # `flask pa ingest --worker 1` and `2`, as PA_INGEST_WORKERS=2 provides


LISTEN_PORTS = (20000, 32000)  # below Linux's ephemeral range (32768–60999), which clients' connects draw from


def free_port() -> int:
    """A free port to listen on, below the ephemeral range: a port bind(0) hands out is an ephemeral one, and a
    client's connect made meanwhile (a scheduler to its broker) may take it first ("Connection in use")."""
    while True:
        port = random.randrange(*LISTEN_PORTS)  # nosec B311 - a port, not a secret
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


def o_mon_cids() -> list[str]:
    return [spec.cid for spec in load_csv(FLEET_CSV)]


class Broker:
    def __init__(self, workdir: Path, clusters: Iterable[str] | None = None, *, tls: bool = False,
                 root: str = protocol.DEFAULT_ROOT, packet_log: bool = False, max_connections: int | None = None):
        """`packet_log`: the broker also logs every packet it sends and receives (`packets()` reads them);
        `max_connections`: the broker refuses clients past this many (production sets it; the default has none)."""
        self.workdir = workdir
        self.packet_log = packet_log
        self.max_connections = max_connections
        self.files = BrokerFiles(workdir)
        self.host = "127.0.0.1"
        self.port = free_port()
        self.tls_port = free_port() if tls else None
        self.root = root
        self.process: subprocess.Popen | None = None
        self.passwords = {cid: accounts.new_password() for cid in (o_mon_cids() if clusters is None else clusters)}
        workdir.mkdir(parents=True, exist_ok=True)
        self.controller_password_file = workdir / "controller.password"
        self.controller_password = accounts.ensure_secret(self.controller_password_file)
        self.monitor_password = accounts.ensure_secret(self.files.monitor_secret)
        self.ingest_passwords = [accounts.ensure_secret(self.files.ingest_secret(n))
                                 for n in range(1, INGEST_ACCOUNTS + 1)]
        self._testers: dict[str, str] = {}  # every tester account made, username -> password
        self._unused: list[str] = []
        self._serial = itertools.count(1)
        self._add_testers(TESTERS_AT_START)

    # ----- addresses and logins

    @property
    def url(self) -> str:
        """The broker's address with no login: what anonymous clients use, and what the simulator is given."""
        return f"mqtt://{self.host}:{self.port}"

    @property
    def tls_url(self) -> str:
        return f"mqtts://{self.host}:{self.tls_port}"

    def login_url(self, username: str, password: str, *, tls: bool = False) -> str:
        base = self.tls_url if tls else self.url
        scheme, rest = base.split("://")
        return f"{scheme}://{quote(username, safe='')}:{quote(password, safe='')}@{rest}"

    @property
    def controller_url(self) -> str:
        """The controller's login (PA_MQTT_URL with user and password)."""
        return self.login_url(CONTROLLER_ACCOUNT, self.controller_password)

    def ingest_url(self, number: int) -> str:
        """The login of ingest process `number` (loanet.ingest.N)."""
        return self.login_url(accounts.ingest_username(number), self.ingest_passwords[number - 1])

    @property
    def monitor_url(self) -> str:
        return self.login_url(accounts.MONITOR, self.monitor_password)

    def cluster_url(self, cid: str) -> str:
        return self.login_url(cid, self.passwords[cid])

    def tester(self) -> str:
        """Return the login URL of a fresh test-only account that may read and write every topic."""
        if not self._unused:
            self._add_testers(TESTERS_AT_START)
            if self.process is not None:
                self.reload()
        username = self._unused.pop(0)
        return self.login_url(username, self._testers[username])

    @property
    def credentials_file(self) -> Path:
        """The clusters' passwords as `firmware_sim --credentials` reads them."""
        path = self.workdir / "credentials.csv"
        if not path.exists():
            with path.open("w", newline="") as out:
                csv.writer(out).writerows([("cid", "password"), *self.passwords.items()])
        return path

    def _add_testers(self, count: int) -> None:
        for _ in range(count):
            username = f"test.{next(self._serial)}"
            self._testers[username] = accounts.new_password()
            self._unused.append(username)

    # ----- files

    def write_accounts(self) -> None:
        """Write the password and ACL files the way `flask pa broker-config` does, testers in the local files."""
        own = [accounts.controller(CONTROLLER_ACCOUNT, accounts.hash_password(self.controller_password), self.root),
               accounts.monitor(accounts.MONITOR, accounts.hash_password(self.monitor_password), self.root),
               *(accounts.ingest(accounts.ingest_username(n), accounts.hash_password(pw), self.root)
                 for n, pw in enumerate(self.ingest_passwords, start=1))]
        clusters = [accounts.cluster(cid, accounts.hash_password(pw), self.root) for cid, pw in self.passwords.items()]
        testers = [accounts.Account(name, accounts.hash_password(pw), ((accounts.READWRITE, "#"),))
                   for name, pw in self._testers.items()]
        accounts.write_private(self.files.local_passwd, accounts.render_passwd(testers))
        accounts.write_private(self.files.local_acl, accounts.render_acl(testers))
        local_passwd, local_acl = self.files.local_passwd.read_text(), self.files.local_acl.read_text()
        accounts.write_private(self.files.passwd, accounts.render_passwd(own + clusters, local_passwd))
        accounts.write_private(self.files.acl, accounts.render_acl(own + clusters, local_acl))

    def start(self) -> "Broker":
        """Start the broker; after stop(), start() restarts it on the same port with the same persistence
        directory, so persistent sessions and their queued QoS 1 messages survive, as in production."""
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.write_accounts()
        tls = None
        if self.tls_port is not None:
            ensure_development_ca(self.files)
            tls = TlsListener(self.tls_port, self.files.server_cert, self.files.server_key, self.host)
        conf = broker_config.write(self.files, Listener(self.port, self.host), tls)
        if self.packet_log:
            conf.write_text(conf.read_text() + "log_type debug\n")
        if self.max_connections is not None:
            conf.write_text(conf.read_text() + f"max_connections {self.max_connections}\n")
        self.log = open(self.workdir / "mosquitto.log", "ab")
        self.process = subprocess.Popen([binary, "-c", str(conf)], stdout=self.log, stderr=subprocess.STDOUT)
        started_within_s = 10 + len(self.passwords) / 500  # it reads every account first: seconds for 10,000s
        deadline = time.monotonic() + started_within_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mosquitto exited: see {self.workdir / 'mosquitto.log'}")
            try:
                socket.create_connection((self.host, self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        self.process.kill()  # not left running behind the error
        self.process.wait()
        raise RuntimeError(f"mosquitto did not open its port within {started_within_s:.0f} s")

    def packets(self) -> list[str]:
        """Return the broker's log lines so far (with `packet_log`, one per packet: "Sending PUBLISH to …")."""
        return (self.workdir / "mosquitto.log").read_text(errors="replace").splitlines()

    def reload(self) -> None:
        """Rewrite the account files and have the broker read them again (SIGHUP), as the worker does."""
        self.write_accounts()
        self.process.send_signal(signal.SIGHUP)
        newest = list(self._testers)[-1]
        wait_for_login(self.host, self.port, newest, self._testers[newest])

    def stop(self) -> None:
        """Stop the broker the way a service manager does (SIGTERM): it saves its persistence file first."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


def connack(host: str, port: int, username: str | None, password: str | None, *, client_id: str = "",
            timeout_s: float = 5.0, **tls) -> mqtt.ReasonCode:
    """Connect once with a throwaway client and return the broker's CONNACK reason code."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    if username is not None:
        client.username_pw_set(username, password)
    if tls:
        client.tls_set(**tls)
    answers = []
    client.on_connect = lambda c, u, flags, reason_code, p: answers.append(reason_code)
    client.connect(host, port, keepalive=10)
    deadline = time.monotonic() + timeout_s
    try:
        while not answers and time.monotonic() < deadline:
            client.loop(0.05)
    finally:
        client.disconnect()
        client.loop(0.01)  # writes the DISCONNECT, then closes the socket
    if not answers:
        raise TimeoutError(f"no CONNACK from {host}:{port} within {timeout_s} s")
    return answers[0]


def wait_for_login(host: str, port: int, username: str, password: str, timeout_s: float = 5.0) -> None:
    """Wait until the broker lets `username` in (after a reload, which it does at its next loop)."""
    deadline = time.monotonic() + timeout_s
    while True:
        if not connack(host, port, username, password).is_failure:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"the broker still refuses {username} {timeout_s} s after a reload")
        time.sleep(0.05)


@contextmanager
def running_broker(workdir: Path, clusters: Iterable[str] | None = None, **options):
    """Run a private broker for the duration of the block."""
    broker = Broker(workdir, clusters, **options).start()
    try:
        yield broker
    finally:
        broker.stop()



def login_of(url: str) -> tuple[str, str]:
    """Return the (username, password) a login URL carries, for a raw paho client."""
    address = urlsplit(url)
    return unquote(address.username), unquote(address.password)


def connect_raw(client: mqtt.Client, url: str, **options) -> None:
    """Connect a raw paho client to the broker a URL names, with the login it carries (mqtt://user:pw@host:port)."""
    address = urlsplit(url)
    if address.username:
        client.username_pw_set(*login_of(url))
    client.connect(address.hostname, address.port, **options)
