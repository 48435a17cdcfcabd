"""`python -m firmware_sim listen`: one cluster on the bench, its traffic shown one line a message."""

import base64
import getpass
import glob
import hashlib
import io
import json
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

import pa_protocol as protocol
from firmware_sim import defaults
from firmware_sim.listen import SHOWN_BYTES, Watcher, describe_heartbeat, line, render
from firmware_sim.session import SessionSettings
from pa_controller.messaging.broker import accounts
from tests.firmware_sim.factories import TEST_KEYS, Listener, make_command
from tests.support.broker import free_port

REPO = Path(__file__).resolve().parents[2]
CID = "om-tho-001"
LOCAL_CLOCK = r"\d\d:\d\d:\d\d\.\d{3}"
CLUSTER_TOPICS = protocol.topic(protocol.DEFAULT_ROOT, CID, "#")


class Bench:
    """`python -m firmware_sim listen` in a child process, its stdout lines gathered by a thread."""

    def __init__(self, broker_url: str, tmp_path: Path, *options: str):
        keys = tmp_path / "keys.json"
        keys.write_text(json.dumps(TEST_KEYS))
        command = [sys.executable, "-m", "firmware_sim", "listen", "--cid", CID, "--broker", broker_url,
                   "--truth", str(tmp_path / "truth.jsonl"), "--keys", str(keys), "--keys-url", "",
                   *options]  # fmt: skip
        # Run where make run would have left its instance dir (`make_run_logins` fills it, or not).
        env = {**without_make_run(os.environ), "PYTHONPATH": str(REPO), "PA_INSTANCE_DIR": str(tmp_path / "instance")}
        self.process = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._gather, daemon=True).start()

    def _gather(self) -> None:
        for text in self.process.stdout:
            self.lines.put(text.rstrip("\n"))

    def wait_for(self, pattern: str, timeout: float = 10.0) -> str:
        """Return the first line (from those not yet waited past) matching `pattern`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                text = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            self.seen.append(text)
            if re.search(pattern, text):
                return text
        raise AssertionError(f"no line matching {pattern!r} within {timeout} s; saw:\n" + "\n".join(self.seen))

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


def without_make_run(env) -> dict[str, str]:
    return {key: value for key, value in env.items() if key not in ("PA_INSTANCE_DIR", "PA_BROKER_DIR")}


@pytest.fixture
def make_run_logins(broker, tmp_path):
    """Lay out in tmp_path/instance what make run leaves for the tools: the clusters' passwords and the monitor's."""
    instance = tmp_path / "instance"
    (instance / "broker").mkdir(parents=True)
    shutil.copy(broker.credentials_file, instance / defaults.CREDENTIALS_NAME)
    shutil.copy(broker.files.monitor_secret, instance / "broker" / defaults.MONITOR_SECRET_NAME)
    return instance


@pytest.fixture
def controller(broker):
    stand_in = Listener(broker.tester(), protocol.wildcard(protocol.DEFAULT_ROOT, protocol.EVENTS))
    yield stand_in
    stand_in.close()


@pytest.mark.timeout(60)
def test_listen_shows_a_command_and_what_the_cluster_answers_then_stops_on_ctrl_c(broker, controller, tmp_path,
                                                                                 make_run_logins):
    """With nothing but --cid on make run's broker: the cluster and the watcher find make run's logins."""
    bench = Bench(broker.url, tmp_path, "--heartbeat-s", "1")
    try:
        boot = bench.wait_for(rf"^{LOCAL_CLOCK} → status    online boot ")
        bench.wait_for(rf"^{LOCAL_CLOCK} → heartbeat #1 idle volume 70 .* speakers 2/2 amp ok")
        tone = make_command("test_tone", CID, time.time(), duration_ms=200)
        controller.command(protocol.DEFAULT_ROOT, tone)
        short = tone["id"][:8]
        bench.wait_for(rf"^{LOCAL_CLOCK} ← cmd       test_tone {short} 0\.2 s$")
        bench.wait_for(rf"^{LOCAL_CLOCK} → events    received cmd {short}$")
        bench.wait_for(rf"^{LOCAL_CLOCK} → events    done cmd {short} ended_at {LOCAL_CLOCK} amp_ok True$")
        bench.process.send_signal(signal.SIGINT)
        assert bench.process.wait(10) == 0
        bench.wait_for(rf"^{LOCAL_CLOCK} → status    offline boot {boot.split('boot ')[1].split()[0]} ")
    finally:
        bench.close()


@pytest.mark.timeout(60)
def test_listen_json_prints_each_message_raw(broker, controller, tmp_path, make_run_logins):
    bench = Bench(broker.url, tmp_path, "--json")
    try:
        status = json.loads(bench.wait_for(r'"topic": "pa/v1/clusters/om-tho-001/status"'))
        assert status["payload"]["online"] is True and status["retained"] is False
        volume = make_command("set_volume", CID, time.time(), volume=40)
        controller.command(protocol.DEFAULT_ROOT, volume)
        command = json.loads(bench.wait_for(r'"topic": "pa/v1/clusters/om-tho-001/cmd"'))
        assert command["payload"] == volume
        bench.process.send_signal(signal.SIGTERM)
        assert bench.process.wait(10) == 0
    finally:
        bench.close()


def test_a_line_is_in_asia_ho_chi_minh_time_and_says_which_way_the_message_went():
    arrived = datetime(2026, 11, 26, 22, 0, 1, 250_000, tzinfo=UTC)
    started = "2026-11-26T22:00:00.010Z"
    raw = protocol.encode({"v": 1, "cid": CID, "cmd_id": "c0ffee00-1111", "run_id": "17", "state": "playing",
                           "at": started, "detail": {"started_at": started}})  # fmt: skip
    assert line(protocol.EVENTS, raw, False, arrived) == (
        "05:00:01.250 → events    playing cmd c0ffee00 run 17 started_at 05:00:00.010"
    )
    unreadable = line(protocol.CMD, b"\xff\xfe", False, arrived)
    assert unreadable == "05:00:01.250 ← cmd       2 bytes that are not JSON: b'\\xff\\xfe'"


def test_a_heartbeat_line_flags_a_silent_amplifier():
    beat = {"seq": 4, "state": "armed", "playing": None, "armed": ["17"], "volume": 70, "rssi_dbm": -80,
            "temp_c": 35.5, "speakers_ok": 1, "speakers_total": 2, "amp_ok": False, "uptime_s": 120}  # fmt: skip
    assert describe_heartbeat(beat) == (
        "#4 armed armed 17 volume 70 rssi -80 dBm 35.5 °C speakers 1/2 AMP FAULT up 120 s"
    )


def test_an_unreachable_broker_exits_2_with_what_to_check(tmp_path):
    url = f"mqtt://127.0.0.1:{free_port()}"
    command = [sys.executable, "-m", "firmware_sim", "listen", "--cid", CID, "--broker", url]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    finished = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30)
    assert finished.returncode == 2
    assert "cannot reach the broker at 127.0.0.1" in finished.stderr and "check --broker" in finished.stderr
    assert "Traceback" not in finished.stderr


# ----- a payload the summaries cannot read


ARRIVED = datetime(2026, 11, 26, 22, 0, 1, 250_000, tzinfo=UTC)
UNREADABLE = [
    (protocol.EVENTS, b'{"state": "done", "detail": [1]}'),
    (protocol.EVENTS, b'{"state": "playing", "detail": {"started_at": 5}}'),
    (protocol.CMD, b'{"type": "play", "id": "c0ffee00", "duration_ms": "x"}'),
    (protocol.CMD, b'{"type": "test_tone", "duration_ms": "x"}'),
    (protocol.HEARTBEAT, b'{"seq": 1, "armed": 5}'),
    (protocol.STATUS, b'{"online": true, "boot_id": null, "fw": []}'),
    (protocol.HEARTBEAT, b"not json at all"),
    (protocol.EVENTS, b"\xff\xfe{"),
    (protocol.CMD, b"[1, 2]"),
]


def topic_of(kind: str) -> str:
    return protocol.topic(protocol.DEFAULT_ROOT, CID, kind)


@pytest.mark.parametrize(("kind", "raw"), UNREADABLE, ids=lambda value: str(value)[:30])
def test_any_payload_shows_as_one_line_whatever_it_holds(kind, raw):
    shown = render(topic_of(kind), raw, False, ARRIVED)
    arrow = "←" if kind == protocol.CMD else "→"
    assert re.match(rf"^05:00:01\.250 {arrow} {kind:<9} \S", shown), shown
    assert "\n" not in shown
    record = json.loads(render(topic_of(kind), raw, True, ARRIVED, as_json=True))
    assert (record["topic"], record["retained"], record["at"]) == (topic_of(kind), True, "2026-11-26T22:00:01.250Z")


@pytest.mark.parametrize(
    ("kind", "raw", "note"),
    [
        (protocol.EVENTS, b'{"detail": [1]}', "AttributeError"),
        (protocol.CMD, b'{"type": "play", "duration_ms": "x"}', "TypeError"),
        (protocol.HEARTBEAT, b'{"armed": 5}', "TypeError"),
    ],
)
def test_a_payload_the_summary_trips_on_shows_raw_with_the_reason(kind, raw, note):
    arrow = "←" if kind == protocol.CMD else "→"
    shown = render(topic_of(kind), raw, False, ARRIVED)
    assert shown.startswith(f"05:00:01.250 {arrow} {kind:<9} {raw!r} [cannot summarise it: {note}: ")


def test_a_long_unreadable_payload_is_cut_and_says_so():
    raw = b'{"armed": 5, "pad": "' + b"x" * 500 + b'"}'
    shown = render(topic_of(protocol.HEARTBEAT), raw, True, ARRIVED)
    assert f"{raw[:SHOWN_BYTES]!r} (first {SHOWN_BYTES} of {len(raw)} bytes) [cannot summarise it: " in shown
    assert shown.endswith(" (retained, from before)")
    record = json.loads(render(topic_of(protocol.HEARTBEAT), raw, False, ARRIVED, as_json=True))
    assert record["payload"] == {"armed": 5, "pad": "x" * 500}  # JSON lines show it whole: nothing to summarise


def test_the_watcher_writes_a_line_for_each_payload_and_never_raises_into_paho():
    out = io.StringIO()
    watcher = Watcher(SessionSettings("127.0.0.1"), CID, out)
    for kind, raw in UNREADABLE:
        watcher._on_message(None, None, SimpleNamespace(topic=topic_of(kind), payload=raw, retain=False))
    assert len(out.getvalue().splitlines()) == len(UNREADABLE)


@pytest.mark.timeout(30)
def test_bad_payloads_on_the_wire_do_not_stop_the_watcher(broker):
    out = io.StringIO()
    watcher = Watcher(SessionSettings.from_url(broker.url), CID, out, username=accounts.MONITOR,
                      password=broker.monitor_password).start()
    publisher = Listener(broker.tester(), topic_of(protocol.CMD))
    try:
        for kind, raw in UNREADABLE:
            publisher.client.publish(topic_of(kind), raw, qos=1).wait_for_publish(5)
        good = protocol.encode({"v": 1, "cid": CID, "online": True, "boot_id": "b0075eed", "fw": "sim"})
        publisher.client.publish(topic_of(protocol.STATUS), good, qos=1).wait_for_publish(5)
        deadline = time.monotonic() + 5
        while len(out.getvalue().splitlines()) <= len(UNREADABLE) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        publisher.close()
        watcher.stop()
    shown = out.getvalue().splitlines()
    assert len(shown) == len(UNREADABLE) + 1, shown
    assert shown[-1].endswith("→ status    online boot b0075eed fw sim")


def test_a_refused_subscription_on_a_reconnect_is_kept_for_listen_to_stop_on():
    watcher = Watcher(SessionSettings("127.0.0.1"), CID, io.StringIO())
    refused = ReasonCode(PacketTypes.SUBACK, identifier=0x87)
    watcher._on_subscribe(watcher.client, None, 1, [refused], None)
    assert watcher.refused.is_set() and watcher.refusal.cid == CID
    assert f"refused the subscription to {CLUSTER_TOPICS} (Not authorized)" in str(watcher.refusal)


# ----- a broker that refuses subscriptions (Mosquitto's dynamic security plugin; an ACL file only filters them)


DYNSEC_PLUGIN = next(iter(glob.glob("/usr/lib/*/mosquitto_dynamic_security.so")), None)
OTHER = "om-tho-002"


def dynsec_client(username: str, password: str, role: str) -> dict:
    """Return a client of the plugin's JSON config, its password hashed the way the plugin checks it."""
    salt = os.urandom(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, 101, 64)
    return {"username": username, "password": base64.b64encode(digest).decode(),
            "salt": base64.b64encode(salt).decode(), "iterations": 101, "roles": [{"rolename": role}]}  # fmt: skip


def dynsec_role(name: str, *acls: tuple[str, str]) -> dict:
    return {"rolename": name, "acls": [{"acltype": kind, "topic": topic, "allow": True} for kind, topic in acls]}


@pytest.fixture
def locked_broker(tmp_path):
    """A broker LoaNet did not configure that lets in only: the cluster (its own topics), a technician who may
    read every cluster's topics, and an outsider who may read none of this cluster's."""
    if DYNSEC_PLUGIN is None:
        pytest.skip("Mosquitto's dynamic security plugin is not installed")
    security = tmp_path / "dynsec.json"
    security.write_text(json.dumps({
        "clients": [dynsec_client(CID, "cluster-pw", "cluster"), dynsec_client("technician", "tech-pw", "reader"),
                    dynsec_client("outsider", "outsider-pw", "elsewhere")],
        "roles": [dynsec_role("cluster", ("publishClientSend", CLUSTER_TOPICS),
                              ("subscribePattern", protocol.topic(protocol.DEFAULT_ROOT, CID, protocol.CMD))),
                  dynsec_role("reader", ("subscribePattern", protocol.wildcard(protocol.DEFAULT_ROOT, "#"))),
                  dynsec_role("elsewhere", ("subscribePattern", protocol.topic(protocol.DEFAULT_ROOT, OTHER, "#")))],
        "defaultACLAccess": {"publishClientSend": False, "publishClientReceive": True, "subscribe": False,
                             "unsubscribe": True},
    }))  # fmt: skip
    port = free_port()
    conf = tmp_path / "dynsec.conf"
    # As this user: started as root, Mosquitto would become `mosquitto` and could not read tmp_path.
    conf.write_text(f"user {getpass.getuser()}\nlistener {port} 127.0.0.1\nallow_anonymous false\n"
                    f"plugin {DYNSEC_PLUGIN}\nplugin_opt_config_file {security}\npersistence false\nlog_dest stderr\n")
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    process = subprocess.Popen([binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, process)
        yield SimpleNamespace(url=f"mqtt://127.0.0.1:{port}")
    finally:
        process.terminate()
        process.wait(5)


def wait_for_port(port: int, process: subprocess.Popen, timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("the broker did not start") from None
            time.sleep(0.05)


def listen_once(broker_url: str, tmp_path: Path, *options: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "firmware_sim", "listen", "--cid", CID, "--broker", broker_url,
               "--truth", str(tmp_path / "truth.jsonl"), *options]  # fmt: skip
    env = {**without_make_run(os.environ), "PYTHONPATH": str(REPO), "PA_INSTANCE_DIR": str(tmp_path / "instance")}
    return subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30)


@pytest.mark.timeout(60)
def test_a_refused_subscription_exits_2_and_says_whose_topics_and_what_to_pass(locked_broker, tmp_path):
    finished = listen_once(locked_broker.url, tmp_path, "--username", "outsider", "--password", "outsider-pw")
    assert finished.returncode == 2
    assert f"refused the subscription to {CLUSTER_TOPICS} (Not authorized): pass --username" in finished.stderr
    assert "Traceback" not in finished.stderr and finished.stdout == ""


@pytest.mark.timeout(60)
def test_a_refused_login_exits_2_and_says_what_to_pass(locked_broker, tmp_path):
    finished = listen_once(locked_broker.url, tmp_path)
    assert finished.returncode == 2
    assert "refused the watcher's login (Not authorized): pass --username and --password" in finished.stderr
    assert "Traceback" not in finished.stderr


@pytest.mark.timeout(60)
def test_on_a_locked_broker_the_cluster_and_the_watcher_each_log_in_with_their_own_account(locked_broker, tmp_path):
    passwords = tmp_path / "passwords.csv"
    passwords.write_text(f"cid,password\n{CID},cluster-pw\n")
    bench = Bench(locked_broker.url, tmp_path, "--credentials", str(passwords), "--username", "technician",
                  "--password", "tech-pw", "--heartbeat-s", "1")  # fmt: skip
    try:
        bench.wait_for(rf"^{LOCAL_CLOCK} → status    online boot ")
        bench.wait_for(rf"^{LOCAL_CLOCK} → heartbeat #1 idle ")
        bench.process.send_signal(signal.SIGINT)
        assert bench.process.wait(10) == 0
        bench.wait_for(rf"^{LOCAL_CLOCK} → status    offline boot ")
    finally:
        bench.close()
