"""The simulator on the wire: sessions against a real Mosquitto, commands from a controller stand-in."""

import socket
import time
import uuid

import pytest

import pa_protocol as protocol
from firmware_sim import Fleet, load_csv
from firmware_sim.board import stamp
from tests.firmware_sim.factories import TEST_KEYS, Listener, make_command, make_play, make_relay, on
from tests.support.broker import running_broker

ROOT = protocol.DEFAULT_ROOT
CLUSTERS = 50
HEARTBEAT_FIELDS = {"v", "cid", "at", "boot_id", "seq", "uptime_s", "state", "playing", "armed", "volume", "rssi_dbm",
                    "temp_c", "speakers_ok", "speakers_total", "amp_ok", "fw"}


@pytest.fixture(scope="module")
def wire_broker(tmp_path_factory):
    with running_broker(tmp_path_factory.mktemp("broker")) as running:
        yield running


@pytest.fixture(scope="module")
def fleet(wire_broker, tmp_path_factory):
    """Fifty clusters of the O Môn fleet, beating every second."""
    truth = tmp_path_factory.mktemp("truth") / "truth.jsonl"
    with Fleet(load_csv(limit=CLUSTERS), wire_broker.url, truth, heartbeat_s=1, connect_rate=1000, seed=1,
               credentials=wire_broker.passwords, keys=TEST_KEYS) as running:
        yield running


@pytest.fixture
def listener(wire_broker):
    created = []

    def listen(*filters):
        created.append(Listener(wire_broker.tester(), *filters))
        return created[-1]

    yield listen
    for each in created:
        each.close()


def test_fifty_clusters_connect_and_subscribe(fleet):
    assert fleet.wait_connected(timeout=10) == CLUSTERS


def test_every_cluster_leaves_a_retained_online_status_with_its_boot_id(fleet, listener):
    fleet.wait_connected(timeout=10)
    statuses = listener(protocol.wildcard(ROOT, protocol.STATUS)).wait_for(on("status", online=True), CLUSTERS)
    assert len(statuses) == CLUSTERS
    assert all(retained for _, _, retained in statuses)
    assert {p["cid"]: p["boot_id"] for _, p, _ in statuses} == {cid: fleet.boot_id(cid) for cid in fleet.sessions}


def test_a_heartbeat_arrives_with_every_field(fleet, listener):
    (_, beat, _), *_ = listener(protocol.wildcard(ROOT, protocol.HEARTBEAT)).wait_for(on("heartbeat"), timeout=3)
    assert set(beat) == HEARTBEAT_FIELDS
    protocol.decode(protocol.HEARTBEAT, beat["cid"], protocol.encode(beat))
    assert beat["boot_id"] == fleet.boot_id(beat["cid"])
    spec = fleet.sessions[beat["cid"]].firmware.spec
    assert beat["speakers_total"] == beat["speakers_ok"] == spec.speakers and beat["state"] == "idle"


def test_a_play_for_every_cluster_is_received_ready_playing_done_and_in_the_truth(fleet, listener, audio_server,
                                                                                 tiny_mp3):
    fleet.wait_connected(timeout=10)
    audio = audio_server.add("broadcast.mp3", tiny_mp3)
    run_id = f"run-{uuid.uuid4().hex[:8]}"
    events = listener(protocol.wildcard(ROOT, protocol.EVENTS))
    commands = {}
    for cid in fleet.sessions:
        play = make_play(cid, time.time(), start_in=2.0, run_id=run_id, duration_ms=300, audio=audio)
        commands[cid] = play
        events.command(ROOT, play)

    done = events.wait_for(on("events", state="done", run_id=run_id), CLUSTERS, timeout=15)
    assert len(done) == CLUSTERS
    for cid, play in commands.items():
        states = [p["state"] for _, p, _ in events.matching(on("events", cmd_id=play["id"]))]
        assert states == ["received", "ready", "playing", "done"], cid
    played = fleet.truth(event="played", run_id=run_id)
    assert sorted(r["cid"] for r in played) == sorted(commands)
    assert {r["sha256"] for r in played} == {audio["sha256"]}
    assert all(r["started_at"] >= r["start_at"] and r["ended_at"] > r["started_at"] for r in played)
    assert audio_server.hits["/broadcast.mp3"] == CLUSTERS


def test_a_relay_on_the_wire_plays_its_window_and_one_joined_late_plays_until_end_at(fleet, listener):
    fleet.wait_connected(timeout=10)
    on_time, late = "om-cvl-011", "om-cvl-012"
    events = listener(protocol.wildcard(ROOT, protocol.EVENTS))
    now = time.time()
    relays = {
        on_time: make_relay(on_time, now, start_in=1.0, window_s=1.0),
        late: make_relay(late, now, start_in=-5.0, window_s=7.0),
    }
    for relay in relays.values():
        events.command(ROOT, relay)

    for cid, relay in relays.items():
        assert events.wait_for(on("events", cmd_id=relay["id"], state="done"), timeout=10), cid
        states = [p["state"] for _, p, _ in events.matching(on("events", cmd_id=relay["id"]))]
        assert states == ["received", "ready", "playing", "done"], cid
        (played,) = fleet.truth(event="played", run_id=relay["run_id"])
        assert played["kind"] == "relay" and played["stream_url"] == relay["stream_url"]
        assert played["ended_at"] >= relay["end_at"]
    (joined,) = fleet.truth(event="played", run_id=relays[late]["run_id"])
    assert joined["started_at"] > joined["start_at"]


def test_a_malformed_command_is_rejected_and_the_fleet_survives(fleet, listener):
    cid = "om-cvl-007"
    events = listener(protocol.topic(ROOT, cid, protocol.EVENTS))
    broken = make_play(cid, time.time())
    del broken["audio"]
    events.command(ROOT, broken)
    events.command(ROOT, make_play("om-cvl-008", time.time()), cid=cid)
    before = fleet.tally.unreadable
    events.command(ROOT, b"\x00 definitely not json", cid=cid)
    tone = make_command("test_tone", cid, time.time(), duration_ms=200)
    events.command(ROOT, tone)

    rejected = events.wait_for(on("events", state="rejected"), 2)
    assert sorted(p["detail"]["reason"] for _, p, _ in rejected) == ["malformed", "wrong_cluster"]
    assert events.wait_for(on("events", cmd_id=tone["id"], state="done"))
    assert fleet.tally.unreadable == before + 1
    assert fleet.connected_count == CLUSTERS


def test_stopping_the_fleet_leaves_retained_offline_wills_with_the_same_boot_id(broker, tmp_path):
    fleet = Fleet(load_csv(limit=CLUSTERS), broker.url, tmp_path / "truth.jsonl", connect_rate=1000,
                  credentials=broker.passwords, keys=TEST_KEYS)
    fleet.start()
    assert fleet.wait_connected(timeout=10) == CLUSTERS
    boot_ids = {cid: fleet.boot_id(cid) for cid in fleet.sessions}
    fleet.stop()
    watcher = Listener(broker.tester(), protocol.wildcard(ROOT, protocol.STATUS))
    try:
        wills = watcher.wait_for(on("status", online=False), CLUSTERS)
    finally:
        watcher.close()
    assert len(wills) == CLUSTERS and all(retained for _, _, retained in wills)
    assert {p["cid"]: p["boot_id"] for _, p, _ in wills} == boot_ids


def test_a_lost_connection_is_reconnected_with_the_same_boot_id(broker, tmp_path):
    statuses = Listener(broker.tester(), protocol.wildcard(ROOT, protocol.STATUS))
    fleet = Fleet(load_csv(limit=1), broker.url, tmp_path / "truth.jsonl", reconnect_min_s=0.1,
                  credentials=broker.passwords, keys=TEST_KEYS)
    try:
        fleet.start()
        assert fleet.wait_connected(timeout=5) == 1
        session = fleet.sessions["om-cvl-001"]
        fleet.call(lambda: session.client.socket().shutdown(socket.SHUT_RDWR))
        assert statuses.wait_for(on("status", online=False))
        assert len(statuses.wait_for(on("status", online=True), 2)) == 2
        assert {p["boot_id"] for _, p, _ in statuses.matching(on("status"))} == {fleet.boot_id("om-cvl-001")}
        assert fleet.wait_connected(timeout=5) == 1 and fleet.tally.reconnects == 1
    finally:
        fleet.stop()
        statuses.close()


def test_a_reboot_goes_offline_and_comes_back_with_a_new_boot_id(broker, tmp_path):
    cid = "om-cvl-001"
    watcher = Listener(broker.tester(), protocol.topic(ROOT, cid, protocol.STATUS), protocol.topic(ROOT, cid, "events"))
    fleet = Fleet(load_csv(limit=1), broker.url, tmp_path / "truth.jsonl", credentials=broker.passwords, keys=TEST_KEYS)
    try:
        fleet.start()
        assert fleet.wait_connected(timeout=5) == 1
        first_boot = fleet.boot_id(cid)
        reboot = make_command("reboot", cid, time.time())
        watcher.command(ROOT, reboot)
        assert watcher.wait_for(on("status", online=False, boot_id=first_boot))
        (_, back, _), *_ = watcher.wait_for(lambda t, p, r: on("status", online=True)(t, p, r)
                                            and p["boot_id"] != first_boot, timeout=5)
        assert back["boot_id"] == fleet.boot_id(cid)
        watcher.command(ROOT, reboot)  # a redelivered reboot is answered, not executed
        assert len(watcher.wait_for(on("events", cmd_id=reboot["id"], state="received"), 2)) == 2
        firmware = fleet.sessions[cid].firmware  # answered after it was dealt with: no reboot is due
        assert fleet.call(lambda: firmware._reboot is None and not firmware.busy)
        assert fleet.boot_id(cid) == back["boot_id"]
    finally:
        fleet.stop()
        watcher.close()


def test_a_command_sent_while_a_cluster_is_offline_is_delivered_when_it_returns(broker, tmp_path):
    cid = "om-cvl-001"
    first = Fleet(load_csv(limit=1), broker.url, tmp_path / "truth.jsonl", credentials=broker.passwords, keys=TEST_KEYS)
    first.start()
    assert first.wait_connected(timeout=5) == 1
    first.stop()
    events = Listener(broker.tester(), protocol.topic(ROOT, cid, protocol.EVENTS))
    try:
        volume = make_command("set_volume", cid, time.time(), volume=40, expires_at=stamp(time.time() + 60))
        events.command(ROOT, volume)
        with Fleet(load_csv(limit=1), broker.url, tmp_path / "truth.jsonl",
                   credentials=broker.passwords, keys=TEST_KEYS) as second:
            assert events.wait_for(on("events", cmd_id=volume["id"], state="received"))
            assert second.call(lambda: second.sessions[cid].firmware.volume) == 40
    finally:
        events.close()


def test_a_fleet_given_a_bind_address_connects_from_it(wire_broker, tmp_path):
    """A fleet past ~28,000 clusters on loopback needs more source addresses than one: each shard binds its own."""
    with Fleet(load_csv(limit=3), wire_broker.url, tmp_path / "truth.jsonl", connect_rate=0, seed=1,
               credentials=wire_broker.passwords, keys=TEST_KEYS, bind_address="127.0.0.3") as running:
        assert running.wait_connected(timeout=10) == 3
        sources = {session.client.socket().getsockname()[0] for session in running.sessions.values()}
    assert sources == {"127.0.0.3"}
