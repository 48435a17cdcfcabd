"""Against the real broker and simulator: a client with full broker rights can neither command the clusters nor
forge their reports, and key rotations with the fleet online refuse nothing (issue 13, items 1 and 2).

The attacker is a test account with every right on the broker (its access rules are tested apart, in
test_broker_attacks.py): what a compromised broker would give, so what holds here holds with a compromised broker.
In `make test`, as issue 13 asks of the adversarial suite.
"""

import subprocess
import uuid
from datetime import timedelta

import pa_protocol as protocol
from firmware_sim import Fleet, load_csv, read_truth
from pa_controller import clock
from pa_controller.services import command_keys
from pa_controller.settings import of as settings_of
from pa_protocol.signing import SigningKey, sign_command
from tests.firmware_sim.conftest import AudioServer
from tests.support.mqtt_clients import RawClient

ROOT = protocol.DEFAULT_ROOT
ATTACKER = SigningKey.generate()


def upload(system, tmp_path, seconds: float = 1.5) -> int:
    path = tmp_path / f"clip-{seconds}.wav"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", f"sine=frequency=660:duration={seconds}",
                    str(path)], check=True, timeout=60)
    with path.open("rb") as handle:
        answer = system.post("/api/v1/audio", files={"file": (path.name, handle)}, data={"title": "Thông báo"})
    assert answer.status_code == 201, answer.text
    return answer.json()["id"]


def broadcast(system, audio_id: int, clusters: list[str], in_s: float = 8.0) -> int:
    """Schedule a normal broadcast to `clusters` starting in `in_s`; return its run id."""
    start = protocol.format_time(clock.now() + timedelta(seconds=in_s))
    answer = system.post("/api/v1/broadcasts", json={"title": "Lịch cắt điện", "audio_id": audio_id,
                                                     "priority": "normal", "targets": {"clusters": clusters},
                                                     "start_at": start})
    assert answer.status_code == 201, answer.text
    return system.wait_for(lambda: system.get(f"/api/v1/runs?broadcast_id={answer.json()['id']}"), 10,
                           "the run")[0]["id"]


def report(system, run_id: int) -> dict:
    return system.get(f"/api/v1/runs/{run_id}")


def wait_counts(system, run_id: int, expected: dict, timeout_s: float = 60) -> dict:
    return system.wait_for(lambda: (r := report(system, run_id))["counts"] == expected and r, timeout_s,
                           f"run {run_id} at {expected}", show=lambda: report(system, run_id)["counts"])


def refused(system, cid: str) -> dict:
    return system.get(f"/api/v1/clusters/{cid}")["refusals"]


def start_fleet(system, broker, tmp_path, cids: list[str]) -> Fleet:
    """The clusters named, provisioned from the controller's key list (trusting the first fetch, as make run)."""
    specs = [spec for spec in load_csv() if spec.cid in cids]
    fleet = Fleet(specs, broker.url, truth_path=tmp_path / "truth.jsonl", heartbeat_s=5,
                  state_dir=tmp_path / "sim-state", keys_url=system.keys_url, credentials=broker.passwords).start()
    assert fleet.wait_connected(timeout=30) == len(specs)
    system.wait_for(lambda: len(fleet.keys.ring) == 1, 10, "the clusters to fetch the controller's key")
    return fleet


def forged_commands(cid: str, attacker_audio: dict, controller_kid: str) -> list[dict]:
    """What an attacker on the broker sends: an emergency from its own server at full volume, stop, reboot,
    silence; unsigned, signed with its own key, and with its own signature under the controller's key id."""
    now = clock.now()
    base = {"v": 1, "cid": cid, "issued_at": protocol.format_time(now),
            "expires_at": protocol.format_time(now + timedelta(minutes=5))}
    play = {**base, "id": str(uuid.uuid4()), "type": "play", "run_id": "999999", "title": "BÁO ĐỘNG",
            "priority": "emergency", "start_at": protocol.format_time(now), "duration_ms": 5000,
            "audio": attacker_audio, "volume": 100}
    stop = {**base, "id": str(uuid.uuid4()), "type": "stop"}
    reboot = {**base, "id": str(uuid.uuid4()), "type": "reboot"}
    mute = {**base, "id": str(uuid.uuid4()), "type": "set_volume", "volume": 0}
    under_our_kid = {**sign_command({**base, "id": str(uuid.uuid4()), "type": "stop"}, ATTACKER),
                     "kid": controller_kid}
    return [sign_command(play, ATTACKER), stop, sign_command(reboot, ATTACKER), mute, under_our_kid]


def test_forged_play_stop_reboot_and_volume_from_full_broker_rights_are_refused_counted_and_change_nothing(
        system, broker, tmp_path):
    victims = ["om-tho-001", "om-tho-002", "om-tho-003"]
    attacker_site = AudioServer()
    attacker_audio = attacker_site.add("siren.mp3", b"\xff\xfb" * 2000)
    audio_id = upload(system, tmp_path)
    fleet = start_fleet(system, broker, tmp_path, victims)
    try:
        boots = {cid: fleet.boot_id(cid) for cid in victims}
        run_id = broadcast(system, audio_id, victims, in_s=10)
        wait_counts(system, run_id, {"ready": len(victims)}, 15)
        with system.app.app_context():
            controller_kid = command_keys.current_key().kid
        sent = {cid: forged_commands(cid, attacker_audio, controller_kid) for cid in victims}
        with RawClient(broker.tester()) as attacker:
            for cid, commands in sent.items():
                for command in commands:
                    attacker.publish(protocol.topic(ROOT, cid, protocol.CMD), command)
        for cid, commands in sent.items():
            system.wait_for(lambda c=cid, n=len(commands): sum(refused(system, c)["forged_command"].values()) == n,
                            20, f"{cid}'s rejections counted", show=lambda c=cid: refused(system, c))
        final = wait_counts(system, run_id, {"done": len(victims)}, 40)
        volumes = {cid: fleet.call(lambda c=cid: fleet.sessions[c].firmware.volume) for cid in victims}
        after = {cid: fleet.boot_id(cid) for cid in victims}
    finally:
        fleet.stop()
        attacker_site.close()
    forged_ids = {command["id"] for commands in sent.values() for command in commands}
    truth = read_truth(tmp_path / "truth.jsonl")
    assert not [r for r in truth if r["cmd_id"] in forged_ids and r["event"] != "rejected"], "none was obeyed"
    assert {r["reason"] for r in truth if r["cmd_id"] in forged_ids} == {"unsigned", "bad_signature"}
    assert not [r for r in truth if r["event"] == "rebooted"] and after == boots, "no cluster rebooted"
    assert volumes == dict.fromkeys(victims, 70), "no cluster was muted"
    assert attacker_site.hits == {}, "no cluster fetched the attacker's audio"
    assert sorted(r["cid"] for r in truth if r["event"] == "played") == victims
    assert all(c["state"] == "done" for c in final["clusters"])
    for cid in victims:
        assert refused(system, cid)["forged_command"] == {"unsigned": 2, "bad_signature": 3}


def test_broken_copies_of_a_real_play_under_its_own_id_cannot_make_the_run_read_rejected(system, broker, tmp_path):
    """The attacker reads each cluster's real `play` and sends, under its id, a copy whose signature is broken
    and a payload that is not a command at all: each cluster rejects both, naming the real id, and plays the
    real one; the run reads `done` everywhere."""
    victims = ["om-tho-004", "om-tho-005"]
    audio_id = upload(system, tmp_path)
    fleet = start_fleet(system, broker, tmp_path, victims)
    try:
        with RawClient(broker.tester()) as attacker:
            attacker.subscribe(protocol.wildcard(ROOT, protocol.CMD))
            run_id = broadcast(system, audio_id, victims, in_s=10)
            plays = attacker.wait_for(lambda topic, payload, retained: isinstance(payload, dict)
                                      and payload.get("type") == "play", count=len(victims), timeout=15)
            assert len(plays) == len(victims)
            for topic, play, _retained in plays:
                broken = {**play, "sig": play["sig"][:-4] + ("AAAA" if not play["sig"].endswith("AAAA") else "BBBB")}
                attacker.publish(topic, broken)
                attacker.publish(topic, {"v": 1, "id": play["id"]})  # not a command: rejected `malformed`
        final = wait_counts(system, run_id, {"done": len(victims)}, 40)
    finally:
        fleet.stop()
    truth = read_truth(tmp_path / "truth.jsonl")
    real = {play["id"] for _topic, play, _retained in plays}
    assert sorted(r["reason"] for r in truth if r["event"] == "rejected" and r["cmd_id"] in real) == sorted(
        ["bad_signature", "malformed"] * len(victims)), "each cluster rejected both copies, under the real id"
    assert sorted(r["cid"] for r in truth if r["event"] == "played") == victims
    assert [c["state"] for c in final["clusters"]] == ["done"] * len(victims)


def test_a_captured_command_replayed_as_is_with_a_new_id_to_another_cluster_or_after_a_reboot_never_plays_twice(
        system, broker, tmp_path):
    victims = ["om-tho-004", "om-tho-005"]
    audio_id = upload(system, tmp_path)
    fleet = start_fleet(system, broker, tmp_path, victims)
    try:
        with RawClient(broker.tester()) as spy:
            spy.subscribe(protocol.wildcard(ROOT, protocol.CMD))
            run_id = broadcast(system, audio_id, victims, in_s=6)
            captured = [payload for _, payload, _ in spy.wait_for(lambda t, p, r: p.get("type") == "play", 2)]
        wait_counts(system, run_id, {"done": len(victims)}, 40)
        with RawClient(broker.tester()) as attacker:
            for command in captured:
                attacker.publish(protocol.topic(ROOT, command["cid"], protocol.CMD), command)  # as it is
                attacker.publish(protocol.topic(ROOT, command["cid"], protocol.CMD),
                                 {**command, "id": str(uuid.uuid4())})  # a new id breaks the signature
            system.wait_for(lambda: len(read_truth(tmp_path / "truth.jsonl", event="duplicate")) == 2, 10,
                            "both copies answered as duplicates")
            first, second = (next(c for c in captured if c["cid"] == cid) for cid in victims)
            attacker.publish(protocol.topic(ROOT, second["cid"], protocol.CMD), first)  # misaddressed
            system.wait_for(lambda: "wrong_cluster" in refused(system, second["cid"])["forged_command"], 10,
                            "the misaddressed copy refused", show=lambda: refused(system, second["cid"]))
            for cid in victims:  # a power cut: memory gone, the ids come back from the disk
                fleet.call(lambda c=cid: fleet.sessions[c].power_off("power_cut", quietly=False))
                fleet.call(lambda c=cid: fleet.sessions[c].power_on("power_cut"))
            assert fleet.wait_connected(timeout=20) == len(victims)
            for command in captured:
                attacker.publish(protocol.topic(ROOT, command["cid"], protocol.CMD), command)
            system.wait_for(lambda: len(read_truth(tmp_path / "truth.jsonl", event="duplicate")) == 4, 10,
                            "the copies after the reboot answered as duplicates")
        for cid, reasons in zip(victims, ({"bad_signature"}, {"bad_signature", "wrong_cluster"}), strict=True):
            # once, or again if the power went before the cluster acknowledged it (QoS 1)
            system.wait_for(lambda c=cid, r=reasons: set(refused(system, c)["forged_command"]) == r, 10,
                            f"{cid}'s rejections", show=lambda c=cid: refused(system, c))
        final = report(system, run_id)
    finally:
        fleet.stop()
    truth = read_truth(tmp_path / "truth.jsonl")
    assert sorted(r["cid"] for r in truth if r["event"] == "played") == victims, "each played once"
    assert {r["cid"] for r in truth if r["event"] == "rejected"} == set(victims)
    assert {r["reason"] for r in truth if r["event"] == "rejected"} == {"bad_signature", "wrong_cluster"}
    assert final["counts"] == {"done": len(victims)}


def test_forged_reports_for_a_command_never_sent_another_clusters_command_or_another_run_are_refused(
        system, broker, tmp_path):
    mine, theirs = "om-tho-006", "om-tho-007"
    audio_id = upload(system, tmp_path)
    fleet = start_fleet(system, broker, tmp_path, [mine, theirs])
    try:
        with RawClient(broker.tester()) as spy:
            spy.subscribe(protocol.wildcard(ROOT, protocol.CMD))
            my_run = broadcast(system, audio_id, [mine], in_s=20)  # both runs ready, neither sounding, when
            their_run = broadcast(system, audio_id, [theirs], in_s=20)  # the forgeries arrive, on a busy machine too
            plays = {p["cid"]: p for _, p, _ in spy.wait_for(lambda t, p, r: p.get("type") == "play", 2)}
        wait_counts(system, my_run, {"ready": 1}, 15)
        wait_counts(system, their_run, {"ready": 1}, 15)
        before = (report(system, my_run), report(system, their_run))
        at = protocol.format_time(clock.now())
        forged = [
            {"cmd_id": str(uuid.uuid4()), "run_id": str(my_run), "state": "done"},  # never sent
            {"cmd_id": plays[theirs]["id"], "run_id": str(their_run), "state": "failed",
             "detail": {"reason": "fetch"}},  # another cluster's command
            {"cmd_id": plays[mine]["id"], "run_id": str(their_run), "state": "done"},  # another run
        ]
        with RawClient(broker.tester()) as attacker:
            for event in forged:
                attacker.publish(protocol.topic(ROOT, mine, protocol.EVENTS), {"v": 1, "cid": mine, "at": at, **event})
        system.wait_for(lambda: sum(refused(system, mine)["report"].values()) == 3, 10, "the three refused",
                        show=lambda: refused(system, mine))
        assert refused(system, mine)["report"] == {"unknown_command": 1, "other_cluster": 1, "wrong_run": 1}
        assert (report(system, my_run), report(system, their_run)) == before, "nothing changed"
        wait_counts(system, my_run, {"done": 1}, 40)
        wait_counts(system, their_run, {"done": 1}, 40)
    finally:
        fleet.stop()


def test_two_key_rotations_with_the_fleet_online_refuse_no_broadcast(system, broker, tmp_path):
    cids = [spec.cid for spec in load_csv()[:40]]
    files = command_keys.KeyFiles(settings_of(system.app).key_dir)
    audio_id = upload(system, tmp_path)
    fleet = start_fleet(system, broker, tmp_path, cids)
    try:
        with system.app.app_context():
            old = command_keys.current_key().kid
            following = command_keys.rotate(files).kid
        first = broadcast(system, audio_id, cids, in_s=6)  # signed by the old key, the next one published
        wait_counts(system, first, {"done": len(cids)}, 40)
        system.wait_for(lambda: report(system, first)["state"] == "finished", 30, "the first run to close")
        with system.app.app_context():
            command_keys.activate(files)
        second = broadcast(system, audio_id, cids, in_s=6)  # signed by the new key: the clusters learn it now
        wait_counts(system, second, {"done": len(cids)}, 40)
        with system.app.app_context():  # again at once: the third key, endorsed by the second, signs from now
            third = command_keys.rotate(files).kid
            command_keys.activate(files)
        last = broadcast(system, audio_id, cids, in_s=8)
        wait_counts(system, last, {"done": len(cids)}, 40)
        ring = fleet.keys.ring
    finally:
        fleet.stop()
    truth = read_truth(tmp_path / "truth.jsonl")
    assert not [r for r in truth if r["event"] == "rejected"], "no command was refused"
    assert len([r for r in truth if r["event"] == "played"]) == 3 * len(cids)
    assert [(key.seq, key.kid) for key in ring.chain()] == [(1, old), (2, following), (3, third)]
    assert ring.keys[old].not_after is not None and ring.keys[following].not_after is not None
