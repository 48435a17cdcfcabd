"""`flask pa ingest`: several processes share the clusters' reports through one MQTT 5 shared subscription, against a
real Mosquitto with the production ACL; each report is stored by one of them, once."""

import time
from datetime import timedelta

import paho.mqtt.client as mqtt
import pytest
from sqlalchemy import select

import pa_protocol as protocol
from pa_controller import clock
from pa_controller.extensions import db
from pa_controller.models import ClusterState, ServiceBeat
from pa_controller.scheduling.ingest_worker import IngestWorker
from pa_controller.services import health
from pa_protocol import format_time
from tests.support.broker import connect_raw, o_mon_cids
from tests.support.settings import use_settings

CLUSTERS = 120


def _settings(app, broker, **changes):
    return use_settings(app, messaging="mqtt", mqtt_url=broker.url, broker_dir=broker.workdir, ingest_workers=2,
                        **changes)


def _birth(cid: str) -> bytes:
    return protocol.encode({"v": 1, "cid": cid, "online": True, "boot_id": "boot-1", "conn": 1, "fw": "1.0",
                            "at": format_time(clock.now())})


def _heartbeat(cid: str) -> bytes:
    return protocol.encode({"v": 1, "cid": cid, "at": format_time(clock.now()), "boot_id": "boot-1", "seq": 1,
                            "uptime_s": 5, "state": "idle", "playing": None, "armed": [], "volume": 70,
                            "rssi_dbm": -70.5, "temp_c": 40, "speakers_ok": 2, "speakers_total": 2, "amp_ok": True,
                            "fw": "1.0"})


def _client(url: str, subscribe: str | None = None) -> mqtt.Client:
    """A raw paho client logged in as `url` says, its network loop running, subscribed to `subscribe` if given."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="", protocol=mqtt.MQTTv5)
    granted = []
    client.on_subscribe = lambda *args: granted.append(args)
    connect_raw(client, url)
    client.loop_start()
    _wait(client.is_connected, 5, f"connected as {url}")
    if subscribe is not None:
        client.subscribe(subscribe, qos=1)
        _wait(lambda: granted, 5, f"subscribed to {subscribe}")
    return client


def _wait(predicate, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"not within {timeout_s} s: {what}"
        time.sleep(0.05)


@pytest.fixture
def ingest_pair(seeded, broker):
    settings = _settings(seeded, broker)
    workers = [IngestWorker(seeded, settings, 1), IngestWorker(seeded, settings, 2)]
    for worker in workers:
        worker.start()
    try:
        _wait(lambda: all(w.link.connected.is_set() for w in workers), 10, "both ingest processes subscribed")
        yield workers
    finally:
        for worker in workers:
            worker.stop()


def test_two_ingest_processes_share_the_reports_and_store_each_once(seeded, broker, ingest_pair):
    cids = o_mon_cids()[:CLUSTERS]
    publisher = _client(broker.tester())
    try:
        sent = [publisher.publish(protocol.topic(protocol.DEFAULT_ROOT, cid, protocol.STATUS), _birth(cid), qos=1)
                for cid in cids]
        sent += [publisher.publish(protocol.topic(protocol.DEFAULT_ROOT, cid, protocol.HEARTBEAT), _heartbeat(cid),
                                   qos=1) for cid in cids]
        for info in sent:
            info.wait_for_publish(10)
    finally:
        publisher.disconnect()
        publisher.loop_stop()

    def handled():
        return [w.inbox.handled.total() for w in ingest_pair]

    _wait(lambda: sum(handled()) >= 2 * CLUSTERS, 20, f"{2 * CLUSTERS} reports handled (so far {handled()})")
    time.sleep(0.5)  # a report handed to both would show now
    assert sum(handled()) == 2 * CLUSTERS
    assert all(handled()), f"the broker gave every report to one process: {handled()}"
    states = db.session.scalars(select(ClusterState).where(ClusterState.cluster_id.in_(cids))).all()
    assert all(s.online and s.boot_id == "boot-1" and s.heartbeat_at is not None for s in states)
    for worker in ingest_pair:
        worker.beat()
    db.session.expire_all()
    beats = {name: db.session.get(ServiceBeat, name) for name in ("ingest.1", "ingest.2")}
    assert all(beat is not None and beat.mqtt_connected for beat in beats.values())
    assert health.report()["ingest"] == "ok"


def test_an_ingest_account_can_publish_no_command(broker):
    received = []
    listener = _client(broker.tester(), subscribe=protocol.wildcard(protocol.DEFAULT_ROOT, protocol.CMD))
    listener.on_message = lambda client, userdata, message: received.append(message.payload)
    ingest = _client(broker.ingest_url(1))
    controller = None
    try:
        topic = protocol.topic(protocol.DEFAULT_ROOT, "om-tho-001", protocol.CMD)
        ingest.publish(topic, b"forged", qos=1).wait_for_publish(5)
        controller = _client(broker.tester())
        controller.publish(topic, b"real", qos=1).wait_for_publish(5)  # the listener hears a command that is let in
        _wait(lambda: received, 5, "the listener to hear the command let in")
        time.sleep(0.3)
        assert received == [b"real"]
    finally:
        for client in filter(None, (listener, ingest, controller)):
            client.disconnect()
            client.loop_stop()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_ingest_process_without_an_account_of_its_own_is_refused_at_start(app, broker):
    with pytest.raises(ValueError, match="PA_INGEST_WORKERS"):
        IngestWorker(app, _settings(app, broker), 3)


def test_health_names_each_ingest_process_that_is_not_beating(seeded, broker):
    _settings(seeded, broker)
    db.session.add(ServiceBeat(name="ingest.1", beat_at=clock.now(), mqtt_connected=True))
    db.session.commit()
    assert health.report()["ingest"] == "ingest 2 never started (flask pa ingest --worker 2)"
    db.session.add(ServiceBeat(name="ingest.2", beat_at=clock.now() - timedelta(seconds=40), mqtt_connected=True))
    db.session.commit()
    answer = health.report()
    assert (answer["ingest"], answer["status"]) == ("ingest 2: no beat for 40 s", "degraded")


def test_without_ingest_processes_health_says_nothing_of_them(seeded):
    assert "ingest" not in health.report()

