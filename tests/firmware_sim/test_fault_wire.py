"""Faults on the wire, against a real Mosquitto: wills, redelivery, power cuts, credentials, the scenario library."""

import getpass
import shutil
import socket
import subprocess
import time
from contextlib import contextmanager

import pytest

import pa_protocol as protocol
from firmware_sim import ClusterSpec, Fleet, load_csv
from firmware_sim.board import epoch
from firmware_sim.faults import library_names, load_scenario, plan_faults
from tests.firmware_sim.factories import TEST_KEYS, Listener, fixed_id, make_command, make_play, on, wait_until
from tests.support.broker import free_port

pytestmark = pytest.mark.e2e  # a slow fault suite on a real broker: make test-e2e, beside the others
ROOT = protocol.DEFAULT_ROOT
O_MON = load_csv()


@pytest.fixture
def listener(broker):
    created = []

    def listen(*filters):
        created.append(Listener(broker.tester(), *filters))
        return created[-1]

    yield listen
    for each in created:
        each.close()


def test_an_offline_cluster_is_declared_by_its_will_only_after_the_keepalive_and_gets_what_it_missed(
        broker, listener, tmp_path):
    cid = "om-cvl-001"
    watch = listener(protocol.topic(ROOT, cid, protocol.STATUS), protocol.topic(ROOT, cid, protocol.EVENTS))
    # Heartbeats every 0.2 s keep the broker hearing from it until the cut. Mosquitto 2.0 checks keep-alives
    # only every few seconds: with a keep-alive of 1 s the will comes about 5 s after the cut.
    with Fleet(load_csv(limit=1), broker.url, tmp_path / "truth.jsonl", keepalive=1, heartbeat_s=0.2,
               faults=["offline:at=0.5,duration=7.5"], credentials=broker.passwords, keys=TEST_KEYS) as fleet:
        assert fleet.wait_connected(timeout=5) == 1
        boot_id = fleet.boot_id(cid)
        wait_until(lambda: fleet.truth(event="fault", phase="start"), 5, "the link to be cut")
        cut = time.monotonic()
        assert fleet.connected_count == 0
        volume = make_command("set_volume", cid, time.time(), volume=25)
        watch.command(ROOT, volume)  # the broker holds it: the link is dead, not closed
        assert watch.wait_for(on("status", online=False, boot_id=boot_id), timeout=7.5)
        silent_for = time.monotonic() - cut
        assert 0.5 <= silent_for < 7.5, "no FIN, no DISCONNECT: only the keep-alive gives the cluster away"
        assert not watch.matching(on("events", cmd_id=volume["id"]))
        assert watch.wait_for(on("events", cmd_id=volume["id"], state="received"), timeout=5)
        assert watch.wait_for(on("status", online=True), 2)[-1][1]["boot_id"] == boot_id
        assert fleet.wait_connected(timeout=5) == 1
        assert fleet.call(lambda: fleet.sessions[cid].firmware.volume) == 25
    assert [r["phase"] for r in fleet.truth(event="fault", fault="offline")] == ["start", "end"]


def test_events_the_flaky_link_loses_still_arrive_after_the_reconnect_and_nothing_runs_twice(broker, listener,
                                                                                              tmp_path):
    cid = "om-cvl-001"
    events = listener(protocol.topic(ROOT, cid, protocol.EVENTS))
    with Fleet(load_csv(limit=1), broker.url, tmp_path / "truth.jsonl", reconnect_min_s=0.1,
               faults=["loss:rate=1,direction=out,duration=30"], credentials=broker.passwords, keys=TEST_KEYS) as fleet:
        assert fleet.wait_connected(timeout=5) == 1
        tone = make_command("test_tone", cid, time.time(), duration_ms=100)
        events.command(ROOT, tone)
        for state in ("received", "playing", "done"):
            assert events.wait_for(on("events", cmd_id=tone["id"], state=state), timeout=5), state
        assert fleet.tally.lost >= 1 and fleet.tally.reconnects >= 1, "a lost event broke the link"
    # The link broke before the command's PUBACK too, so the broker delivered it again: answered, not run.
    assert len(fleet.truth(event="received", cmd_id=tone["id"])) == 1
    assert len(fleet.truth(event="tone", cmd_id=tone["id"])) == 1


def test_a_command_the_flaky_link_loses_is_delivered_again_and_run_once(broker, listener, tmp_path):
    cid = "om-cvl-001"
    events = listener(protocol.topic(ROOT, cid, protocol.EVENTS))
    with Fleet(load_csv(limit=1), broker.url, tmp_path / "truth.jsonl", reconnect_min_s=0.1,
               faults=["loss:rate=1,direction=in,duration=1"], credentials=broker.passwords, keys=TEST_KEYS) as fleet:
        assert fleet.wait_connected(timeout=5) == 1
        volume = make_command("set_volume", cid, time.time(), volume=33)
        events.command(ROOT, volume)
        assert events.wait_for(on("events", cmd_id=volume["id"], state="received"), timeout=8)
        assert fleet.tally.lost >= 1
        assert len(fleet.truth(event="received", cmd_id=volume["id"])) == 1
        assert fleet.truth(event="lost", cmd_id=volume["id"], direction="in"), "each loss is in the truth"


def test_a_power_cut_takes_a_ward_down_and_brings_it_back_paced_with_new_boot_ids(broker, listener, tmp_path):
    ward = [ClusterSpec(f"om-tho-{n:03}", ward="thoi-hoa") for n in (1, 2, 3)]
    bystander = ClusterSpec("om-cvl-001", ward="chau-van-liem")
    statuses = listener(protocol.wildcard(ROOT, protocol.STATUS))
    with Fleet([*ward, bystander], broker.url, tmp_path / "truth.jsonl", keepalive=1, connect_rate=4,
               faults=["power_cut:ward=thoi-hoa,at=1.5,duration=2.5"],
               credentials=broker.passwords, keys=TEST_KEYS) as fleet:
        assert fleet.wait_connected(timeout=5) == 4
        before = {cid: fleet.boot_id(cid) for cid in fleet.sessions}
        assert fleet.wait_faults_over(timeout=10)
        assert fleet.wait_connected(timeout=5) == 4
        for spec in ward:
            assert statuses.wait_for(on("status", cid=spec.cid, online=False, boot_id=before[spec.cid]), timeout=5)
        back = statuses.wait_for(lambda t, p, r: p["online"] and p["boot_id"] not in before.values(), 3, timeout=5)
        assert sorted(p["cid"] for _, p, _ in back) == [spec.cid for spec in ward]
        births = sorted(epoch(p["at"]) for _, p, _ in back)
        assert births[-1] - births[0] >= 0.4, "three births at 4 connections/s are paced"
        assert fleet.boot_id(bystander.cid) == before[bystander.cid]
    rebooted = fleet.truth(event="rebooted")
    assert sorted(r["cid"] for r in rebooted) == [spec.cid for spec in ward]
    assert {r["cause"] for r in rebooted} == {"power_cut"}
    assert len(fleet.truth(event="fault", fault="power_cut")) == 6


def test_a_slow_link_delays_commands_and_events_but_keeps_their_order(broker, listener, tmp_path):
    cid = "om-cvl-001"
    events = listener(protocol.topic(ROOT, cid, protocol.EVENTS))
    with Fleet(load_csv(limit=1), broker.url, tmp_path / "truth.jsonl",
               faults=["delay:delay_s=0.4,jitter_s=0.3"], credentials=broker.passwords, keys=TEST_KEYS) as fleet:
        assert fleet.wait_connected(timeout=5) == 1
        volumes = [make_command("set_volume", cid, time.time(), volume=v) for v in (10, 20, 30)]
        sent = time.monotonic()
        for volume in volumes:
            events.command(ROOT, volume)
        arrived = events.wait_for(on("events", state="received"), 3, timeout=5)
        took = time.monotonic() - sent
        assert [p["cmd_id"] for _, p, _ in arrived] == [v["id"] for v in volumes]
        assert took >= 0.8, "0.4 s or more on the way in, and again on the way out"
        assert fleet.call(lambda: fleet.sessions[cid].firmware.volume) == 30


def test_a_restarted_simulator_answers_a_redelivered_command_as_a_duplicate_and_does_not_run_it(
        broker, listener, tmp_path):
    cid = "om-cvl-001"
    events = listener(protocol.topic(ROOT, cid, protocol.EVENTS))
    reboot = make_command("reboot", cid, time.time())
    with Fleet(load_csv(limit=1), broker.url, tmp_path / "first.jsonl", state_dir=tmp_path / "state",
               credentials=broker.passwords, keys=TEST_KEYS) as first:
        assert first.wait_connected(timeout=5) == 1
        events.command(ROOT, reboot)
        assert events.wait_for(on("events", cmd_id=reboot["id"], state="received"))
    assert (tmp_path / "state" / f"{cid}.json").exists()
    with Fleet(load_csv(limit=1), broker.url, tmp_path / "second.jsonl", state_dir=tmp_path / "state",
               credentials=broker.passwords, keys=TEST_KEYS) as second:
        assert second.wait_connected(timeout=5) == 1
        boot_id = second.boot_id(cid)
        events.command(ROOT, reboot)
        answers = events.wait_for(on("events", cmd_id=reboot["id"], state="received"), 2)
        assert answers[-1][1]["detail"] == {"duplicate": True}
        # The answer goes out after the command is dealt with: a reboot that ran would be due by now.
        firmware = second.sessions[cid].firmware
        assert second.call(lambda: firmware._reboot is None and not firmware.busy)
        assert second.boot_id(cid) == boot_id and second.truth(event="rebooted") == []
        assert [r["event"] for r in second.truth(cmd_id=reboot["id"])] == ["duplicate"]


def test_a_hung_cluster_leaves_commands_unacknowledged_and_handles_them_once_it_recovers(broker, listener, tmp_path):
    cid = "om-cvl-001"
    events = listener(protocol.topic(ROOT, cid, protocol.EVENTS))
    with Fleet(load_csv(limit=1), broker.url, tmp_path / "truth.jsonl", faults=["silent:duration=4"],
               credentials=broker.passwords, keys=TEST_KEYS) as fleet:
        assert fleet.wait_connected(timeout=5) == 1
        firmware = fleet.sessions[cid].firmware
        assert fleet.call(lambda: firmware.condition.silent)
        volume = make_command("set_volume", cid, time.time(), volume=44)
        events.command(ROOT, volume)
        wait_until(lambda: fleet.truth(event="ignored", cmd_id=volume["id"]), 5, "the hung cluster to ignore it")
        assert fleet.call(lambda: firmware.busy), "held, to be handled after the hang"
        assert events.wait_for(on("events", cmd_id=volume["id"], state="received"), timeout=10)
        assert fleet.call(lambda: firmware.volume) == 44 and not fleet.call(lambda: firmware.busy)
    (ended,) = fleet.truth(event="fault", fault="silent", phase="end")
    (received,) = fleet.truth(event="received", cmd_id=volume["id"])
    assert epoch(received["at"]) >= epoch(ended["at"]), "handled only once the application works again"
    assert fleet.tally.reconnects == 0, "no reconnect: the stack held the command, unacknowledged"


def download_fates(broker, truth, heartbeat_s: float, plays: list[dict]) -> dict[str, tuple]:
    """Run one cluster with seed 5 and download faults, send `plays`, and return each one's outcome."""
    cid = plays[0]["cid"]
    watch = Listener(broker.tester(), protocol.topic(ROOT, cid, protocol.EVENTS))
    try:
        with Fleet(load_csv(limit=1), broker.url, truth, heartbeat_s=heartbeat_s, seed=5,
                   faults=["failing_download:rate=0.4", "checksum_mismatch:rate=0.4"],
                   credentials=broker.passwords, keys=TEST_KEYS) as fleet:
            assert fleet.wait_connected(timeout=5) == 1
            beats = fleet.call(lambda: fleet.sessions[cid].firmware.seq)
            for play in plays:
                watch.command(ROOT, play)
            settled = watch.wait_for(lambda t, p, r: p["state"] in ("ready", "failed"), len(plays), timeout=15)
            beats = fleet.call(lambda: fleet.sessions[cid].firmware.seq) - beats
    finally:
        watch.close()
    assert len(settled) == len(plays)
    # Whether heartbeats fell among the downloads (their draws must not shift the downloads' outcomes).
    return {p["cmd_id"]: (p["state"], p.get("detail", {}).get("reason"), beats > 0) for _, p, _ in settled}


def test_the_same_seed_gives_the_same_fault_outcomes_for_the_same_commands_however_the_heartbeats_fall(
        broker, audio_server, tiny_mp3, tmp_path):
    cid = "om-cvl-001"
    plays = []
    for n in range(1, 9):
        clip = tiny_mp3 + b"TAG" + f"clip {n}".encode().ljust(125, b"\0")  # an ID3v1 tag: a clip of its own
        audio = audio_server.add(f"seeded-{n}.mp3", clip)
        plays.append(make_play(cid, time.time(), start_in=300, id=fixed_id(n), audio=audio))
    busy = download_fates(broker, tmp_path / "busy.jsonl", 0.05, plays)
    calm = download_fates(broker, tmp_path / "calm.jsonl", 60, plays[::-1])
    assert {k: v[:2] for k, v in busy.items()} == {k: v[:2] for k, v in calm.items()}
    assert {v[2] for v in busy.values()} == {True} and {v[2] for v in calm.values()} == {False}
    assert {(state, reason) for state, reason, _ in busy.values()} == {
        ("ready", None), ("failed", "fetch"), ("failed", "checksum")}


@contextmanager
def password_broker(tmp_path, users: dict[str, str]):
    """Run a Mosquitto that refuses anonymous clients and knows `users`."""
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    passwd = shutil.which("mosquitto_passwd")
    if passwd is None:
        pytest.skip("mosquitto_passwd is not installed")
    passwords = tmp_path / "passwd"
    for n, (user, password) in enumerate(users.items()):
        subprocess.run([passwd, *(["-c"] if n == 0 else []), "-b", str(passwords), user, password], check=True)
    passwords.chmod(0o600)
    port = free_port()
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(f"user {getpass.getuser()}\nlistener {port} 127.0.0.1\nallow_anonymous false\n"
                    f"password_file {passwords}\npersistence false\nlog_dest stderr\n")
    process = subprocess.Popen([binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the password broker did not start") from None
                time.sleep(0.05)
        yield f"mqtt://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(5)


def test_each_cluster_logs_in_as_its_cid_with_its_own_password(tmp_path):
    with password_broker(tmp_path, {"om-cvl-001": "s3cret", "om-cvl-002": "other"}) as url:
        credentials = tmp_path / "credentials.csv"
        credentials.write_text("cid,password\nom-cvl-001,s3cret\nom-cvl-002,wrong\n")
        with Fleet(load_csv(limit=3), url, tmp_path / "truth.jsonl", credentials=credentials,
                   reconnect_min_s=5, keys=TEST_KEYS) as fleet:
            assert fleet.wait_connected(timeout=5, count=1) == 1
            # Both others were turned away (wrong password, none at all) and wait 5 s to try again.
            wait_until(lambda: fleet.tally.reconnects >= 2, 5, "the broker to refuse the other two")
            assert fleet.connected_count == 1 and fleet.sessions["om-cvl-001"].subscribed


# ----- the scenario library, fast


def fitted(name: str, clusters: list[ClusterSpec], seconds: float = 2.0) -> float:
    """Return the time scale that ends a scenario's last period `seconds` after the start."""
    last_change = plan_faults(load_scenario(name), clusters, seed=1).last_change
    return min(1.0, seconds / last_change) if last_change else 1.0


@pytest.mark.parametrize("name", library_names())
def test_every_library_scenario_runs_in_seconds_and_its_faults_all_start_and_end(name, broker, tmp_path):
    clusters = O_MON[::8]
    with Fleet(clusters, broker.url, tmp_path / "truth.jsonl", scenario=name, time_scale=fitted(name, clusters),
               seed=1, heartbeat_s=0.5, connect_rate=0, reconnect_min_s=0.1, credentials=broker.passwords,
               keys=TEST_KEYS) as fleet:
        assert fleet.wait_faults_over(timeout=15)
        assert fleet.wait_connected(timeout=10) == len(clusters)
        assert "faults active" in fleet.summary() or not fleet.plan.afflictions
        for affliction in fleet.plan.afflictions:
            if affliction.end is None:  # still acting on its cluster
                firmware = fleet.sessions[affliction.cid].firmware
                assert affliction.kind in fleet.call(firmware.condition.kinds)
    records = fleet.truth(event="fault")
    for affliction in fleet.plan.afflictions:
        phases = [r["phase"] for r in records if r["cid"] == affliction.cid and r["index"] == affliction.fault.index
                  and r.get("cycle") == affliction.cycle]
        assert phases == ["start", "end"], (affliction, phases)
        if affliction.end is None:
            assert [r.get("stopped") for r in records if r["cid"] == affliction.cid
                    and r["index"] == affliction.fault.index] == [None, True]
    restarted = {(a.cid, a.kind) for a in fleet.plan.afflictions if a.kind in ("power_cut", "reboot")}
    assert {(r["cid"], r["cause"]) for r in fleet.truth(event="rebooted")} == restarted
