"""Cluster status for real: a real broker, the real worker, simulated clusters that die, fall silent or reconnect."""

import json
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta

import paho.mqtt.client as mqtt
import pytest
import requests
from flask_migrate import upgrade
from werkzeug.serving import make_server

import pa_protocol as protocol
from firmware_sim import ClusterSpec, Fleet
from pa_controller import clock, create_app
from pa_controller.domain import Role
from pa_controller.extensions import db
from pa_controller.scheduling.worker import Worker
from pa_controller.services import fleet, people
from tests.conftest import FLEET_CSV, PASSWORD
from tests.firmware_sim.factories import TEST_KEYS
from tests.support.broker import free_port, login_of

pytestmark = pytest.mark.e2e
BEAT_S, KEEPALIVE_S = 1.0, 2


@pytest.fixture
def watched(database_url, make_settings, broker):
    """Web and worker judging the fleet every 0.2 s, heartbeats expected every second; yields a GET helper."""
    port = free_port()
    settings = make_settings(database_url, messaging="mqtt", mqtt_url=broker.controller_url,
                             public_url=f"http://127.0.0.1:{port}", heartbeat_s=BEAT_S, fleet_watch_s=0.2,
                             incident_hold_s=0.0)
    app = create_app(settings)
    with app.app_context():
        upgrade()
        fleet.import_csv(FLEET_CSV.read_text(encoding="utf-8"))
        token = people.issue_token(people.create_user("tech", PASSWORD, Role.TECHNICIAN), "e2e")
        db.session.remove()
    server = make_server("127.0.0.1", port, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    worker = Worker(app, plan_interval_s=0.5)
    worker.start()

    def get(path: str):
        answer = requests.get(f"http://127.0.0.1:{port}/api/v1{path}", headers={"Authorization": f"Bearer {token}"},
                              timeout=10)
        assert answer.status_code == 200, answer.text
        return answer.json()

    try:
        yield get
    finally:
        worker.stop()
        server.shutdown()
        with app.app_context():
            db.engine.dispose()


def key_file(tmp_path) -> str:
    """A key file for a simulator that is sent no command."""
    path = tmp_path / "keys.json"
    path.write_text(json.dumps(TEST_KEYS))
    return str(path)


def status_of(get, cid: str) -> str:
    return get(f"/clusters/{cid}")["status"]


def wait_status(get, cid: str, wanted: str, timeout_s: float) -> float:
    """Return the seconds it took for the cluster to show `wanted`; fail after timeout_s (a safety bound)."""
    began = time.monotonic()
    while time.monotonic() - began < timeout_s:
        if status_of(get, cid) == wanted:
            return time.monotonic() - began
        time.sleep(0.05)
    raise AssertionError(f"{cid} did not become {wanted} within {timeout_s} s; it is {status_of(get, cid)}")


def incidents_of(get, cid: str, timeout_s: float = 5) -> list[dict]:
    """The cluster's incidents, once the watcher (every 0.2 s) has judged it."""
    deadline = time.monotonic() + timeout_s
    while not (found := [i for i in get("/incidents?open=false") if i["cluster"] == cid]):
        if time.monotonic() > deadline:
            break
        time.sleep(0.1)
    return found


def test_a_cluster_killed_without_disconnecting_is_offline_within_one_and_a_half_keepalives(watched, broker,
                                                                                              tmp_path):
    sim = subprocess.Popen([sys.executable, "-m", "firmware_sim", "--clusters", "3", "--broker", broker.url,
                            "--credentials", str(broker.credentials_file),
                            "--heartbeat-s", str(BEAT_S), "--keepalive", str(KEEPALIVE_S),
                            "--truth", str(tmp_path / "truth.jsonl"), "--keys", str(key_file(tmp_path)),
                            "--keys-url", ""], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    try:
        wait_status(watched, "om-cvl-001", "online", 30)
        sim.send_signal(signal.SIGKILL)  # no DISCONNECT, no goodbye: the broker must notice on its own
        sim.wait(10)
        took = wait_status(watched, "om-cvl-001", "offline", 1.5 * KEEPALIVE_S + 2)
    finally:
        sim.kill()
    assert took <= 1.5 * KEEPALIVE_S + 2
    [incident] = incidents_of(watched, "om-cvl-001")
    assert incident["kind"] == "cluster_offline"


def test_a_connected_cluster_that_stops_heartbeating_goes_stale_then_offline(watched, broker, tmp_path):
    with Fleet([ClusterSpec("om-tho-001", ward="thoi-hoa")], broker.url, truth_path=tmp_path / "t.jsonl",
               heartbeat_s=BEAT_S, keepalive=KEEPALIVE_S, credentials=broker.passwords, keys=TEST_KEYS) as sim:
        sim.wait_connected(timeout=15)
        wait_status(watched, "om-tho-001", "online", 15)
        sim.call(lambda: sim.sessions["om-tho-001"].firmware.halt())  # connected, but no more heartbeats
        stale_after = wait_status(watched, "om-tho-001", "stale", 3 * BEAT_S + 2)
        offline_after = wait_status(watched, "om-tho-001", "offline", 3 * BEAT_S + 2) + stale_after
        assert sim.connected_count == 1, "still connected: it is silent, not gone"
        [incident] = incidents_of(watched, "om-tho-001")  # before the fleet's goodbye will says it has gone
    assert stale_after <= 3 * BEAT_S + 1 and offline_after <= 3 * BEAT_S + 2
    assert incident["outage_cause"] == "silent" and "không gửi nhịp tim" in incident["summary"]


def test_a_stale_will_after_a_quick_reconnect_does_not_mark_the_cluster_offline(watched, broker, tmp_path):
    with Fleet([ClusterSpec("om-tho-002", ward="thoi-hoa")], broker.url, truth_path=tmp_path / "t.jsonl",
               heartbeat_s=BEAT_S, keepalive=KEEPALIVE_S, credentials=broker.passwords, keys=TEST_KEYS) as sim:
        sim.wait_connected(timeout=15)
        wait_status(watched, "om-tho-002", "online", 15)
        # No more heartbeats, so only the status can say whether it is there.
        sim.call(lambda: sim.sessions["om-tho-002"].firmware.halt())
        # A quick reconnect of the same boot (its birth, connection 2), then the will its first connection
        # registered arrives only now.
        status = {"v": 1, "cid": "om-tho-002", "boot_id": sim.boot_id("om-tho-002"), "fw": "sim"}
        birth = {**status, "online": True, "conn": 2, "at": protocol.format_time(clock.now())}
        will = {**status, "online": False, "conn": 1, "at": protocol.format_time(clock.now() - timedelta(minutes=5))}
        publisher = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        publisher.username_pw_set(*login_of(broker.tester()))  # the broker's own publish of a late will
        publisher.connect("127.0.0.1", broker.port)
        publisher.loop_start()
        for payload in (birth, will):
            publisher.publish(protocol.topic(protocol.DEFAULT_ROOT, "om-tho-002", protocol.STATUS),
                              json.dumps(payload), qos=1).wait_for_publish(5)
        publisher.loop_stop()
        publisher.disconnect()
        time.sleep(5 * 0.2)  # several judgements later, before silence alone could make it offline
        assert status_of(watched, "om-tho-002") != "offline"
        assert incidents_of(watched, "om-tho-002", timeout_s=0) == []
