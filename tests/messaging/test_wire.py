"""The controller's MQTT session against a real broker: it survives any payload and keeps receiving."""

import json
import time

import paho.mqtt.client as mqtt
import pytest

import pa_protocol as protocol
from pa_controller import clock
from pa_controller.extensions import db
from pa_controller.messaging.link import broker_address
from pa_controller.models import ClusterState
from pa_controller.scheduling.worker import Worker
from tests.support.settings import use_settings


@pytest.fixture
def worker(seeded, broker, command_key):
    use_settings(seeded, messaging="mqtt", mqtt_url=broker.controller_url)
    running = Worker(seeded)
    running.start()
    assert running.link.connected.wait(10)
    yield running
    running.stop()


def publish_all(broker, messages: list[tuple[str, bytes]]) -> None:
    """Publish as an account with every right: payloads no cluster's own account could send."""
    address = broker_address(broker.tester())
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.username_pw_set(address["username"], address["password"])
    client.connect(address["host"], address["port"])
    client.loop_start()
    for topic, payload in messages:
        client.publish(topic, payload, qos=1).wait_for_publish(5)
    client.disconnect()
    client.loop_stop()


def birth(cid: str, **overrides) -> bytes:
    return json.dumps({"v": 1, "cid": cid, "online": True, "boot_id": "boot-1", "at": protocol.format_time(clock.now()),
                       **overrides}).encode()


def wait_online(cid: str, timeout_s: float = 10) -> ClusterState:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        db.session.expire_all()
        state = db.session.get(ClusterState, cid)
        if state.online:
            return state
        time.sleep(0.1)
    raise AssertionError(f"{cid} never came online")


def test_hostile_payloads_are_counted_and_the_next_good_one_is_stored(worker, broker):
    status = protocol.topic("pa/v1", "om-tho-001", protocol.STATUS)
    publish_all(broker, [
        (status, b"[" * 16000),
        (status, b"\xff\xfe\x00"),
        (status, birth("om-tho-002")),
        (protocol.topic("pa/v1", "om-tho-001", protocol.EVENTS), b'{"v":1}'),
        ("pa/v1/clusters/not a cid/status", birth("x")),
        (status, birth("om-tho-001")),
    ])
    assert wait_online("om-tho-001").boot_id == "boot-1"
    assert worker.inbox.rejected["malformed"] >= 3 and worker.inbox.rejected["wrong_cluster"] == 1
    assert worker.link.connected.is_set()


def test_one_report_the_database_refuses_costs_only_itself(worker, broker):
    """fw longer than its column: PostgreSQL refuses the row; the other clusters' births in the batch are kept."""
    publish_all(broker, [(protocol.topic("pa/v1", "om-tho-001", protocol.STATUS), birth("om-tho-001", fw="9" * 200)),
                         (protocol.topic("pa/v1", "om-tho-002", protocol.STATUS), birth("om-tho-002"))])
    assert wait_online("om-tho-002").online


def test_health_is_ok_once_the_worker_beats_with_a_live_session(worker, seeded):
    client = seeded.test_client()
    deadline = time.monotonic() + 10
    while (answer := client.get("/api/v1/health").get_json())["status"] != "ok" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert answer == {"status": "ok", "db": "ok", "mqtt": "ok", "scheduler": "ok", "signing": "ok"}


def test_a_cluster_written_from_the_protocol_alone_that_dies_silently_is_marked_offline_by_its_will(worker, broker):
    """It stamps milliseconds and is slow to publish its birth, so its will (fixed at CONNECT) is dated earlier
    than its birth; the broker publishes that will 1.5 keep-alives after the link went dark."""
    cid, topics = "om-tho-001", {kind: protocol.topic("pa/v1", "om-tho-001", kind) for kind in protocol.TOPIC_KINDS}

    def status(online: bool) -> bytes:
        return json.dumps({"v": 1, "cid": cid, "online": online, "boot_id": "b00t", "conn": 1, "fw": "indie-1.0",
                           "at": protocol.format_time(clock.now())}).encode()

    address = broker_address(broker.url)
    cluster = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=cid, protocol=mqtt.MQTTv5)
    cluster.username_pw_set(cid, broker.passwords[cid])
    cluster.will_set(topics[protocol.STATUS], status(False), qos=1, retain=True)
    session = mqtt.Properties(mqtt.PacketTypes.CONNECT)
    session.SessionExpiryInterval = 86_400
    cluster.connect(address["host"], address["port"], keepalive=2, clean_start=False, properties=session)
    cluster.loop_start()
    cluster.subscribe(topics[protocol.CMD], qos=1)
    time.sleep(1.2)  # a slow modem: the birth goes out more than a second after CONNECT
    cluster.publish(topics[protocol.STATUS], status(True), qos=1, retain=True).wait_for_publish(5)
    assert wait_online(cid).conn == 1
    cluster.loop_stop()  # dark: no DISCONNECT, no more pings; the socket stays open
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            db.session.expire_all()
            if not db.session.get(ClusterState, cid).online:
                break
            time.sleep(0.2)
        assert not db.session.get(ClusterState, cid).online, "the will of the current connection was ignored"
    finally:
        cluster.socket() and cluster.socket().close()
