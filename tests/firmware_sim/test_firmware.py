"""The firmware's rules (PROTOCOL.md), checked on a simulated clock without a broker."""

import json

import pytest

import pa_protocol as protocol
from firmware_sim.board import epoch, stamp
from firmware_sim.firmware import REBOOT_DELAY_S, Firmware
from firmware_sim.media import FetchOutcome
from firmware_sim.player import GRACE_S
from firmware_sim.roster import ClusterSpec
from tests.firmware_sim.factories import CID, FakeUplink, Rig, make_play, signed, unsigned


def play_through(rig: Rig, **fields) -> dict:
    """Send a play, let its fetch succeed and run the clock past its end."""
    command = rig.play(**fields)
    rig.audio.settle()
    rig.advance(20)
    return command


# ----- the happy path


def test_a_play_is_received_fetched_readied_played_and_done(rig):
    command = rig.play(start_in=10)
    assert rig.states(command["id"]) == ["received"]
    assert rig.audio.requested == [command["audio"]]

    rig.audio.settle()
    assert rig.states(command["id"]) == ["received", "ready"]

    rig.advance(10)
    playing = rig.event(command["id"], "playing")
    assert playing["run_id"] == command["run_id"]
    assert playing["detail"]["started_at"] == command["start_at"]

    rig.advance(5)
    assert rig.states(command["id"]) == ["received", "ready", "playing", "done"]
    done = rig.event(command["id"], "done")
    assert epoch(done["detail"]["ended_at"]) - epoch(command["start_at"]) == 5.0


def test_a_clip_played_to_the_end_leaves_one_played_truth_line(rig):
    command = play_through(rig)
    (played,) = rig.truth.of(event="played")
    assert played["cid"] == CID
    assert played["run_id"] == command["run_id"]
    assert played["cmd_id"] == command["id"]
    assert played["sha256"] == command["audio"]["sha256"]
    assert played["start_at"] == played["started_at"] == command["start_at"]
    assert epoch(played["ended_at"]) - epoch(played["started_at"]) == 5.0
    assert rig.truth.of(event="received", cmd_id=command["id"])


def test_every_event_carries_v_cid_cmd_id_state_and_at(rig):
    play_through(rig)
    for event in rig.events:  # FakeUplink also ran each through protocol.decode
        assert event["v"] == 1 and event["cid"] == CID
        assert {"cmd_id", "state", "at"} <= set(event)


# ----- rule 1: idempotence


def test_a_duplicate_command_id_is_answered_received_and_played_once(rig):
    command = rig.play()
    rig.send(command)
    rig.audio.settle()
    rig.advance(20)
    rig.send(command)
    assert rig.states(command["id"]) == ["received", "received", "ready", "playing", "done", "received"]
    assert len(rig.audio.requested) == 1
    assert len(rig.truth.of(event="played")) == 1
    assert rig.event(command["id"], "done")
    assert rig.board.tally.duplicates == 2


def test_a_command_id_reused_for_a_different_command_is_rejected_as_replay(rig):
    command = rig.play()
    rig.send(signed({**command, "title": "Một thông báo khác"}))
    rejected = [e for e in rig.events if e["state"] == "rejected"]
    assert [e["detail"]["reason"] for e in rejected] == ["replay"]


def test_command_ids_seen_before_a_reboot_are_still_answered_received_after_it(rig):
    command = rig.play()
    rig.command("reboot")
    rig.advance(REBOOT_DELAY_S)
    rig.send(command)
    assert rig.states(command["id"])[-1] == "received"
    assert len(rig.audio.requested) == 1


def test_every_command_decoded_leaves_one_truth_record_with_its_outcome(rig):
    accepted = rig.play()
    rig.send(accepted)
    rig.send(signed({**accepted, "title": "Một thông báo khác"}))
    expired = rig.send(make_play(now=rig.clock.now - 700))
    malformed = rig.send(make_play(now=rig.clock.now, priority="loud"))
    volume = rig.command("set_volume", volume=40)
    outcomes = [(r["cmd_id"], r["event"], r.get("reason")) for r in rig.truth.records]
    assert outcomes == [(accepted["id"], "received", None), (accepted["id"], "duplicate", None),
                        (accepted["id"], "rejected", "replay"), (expired["id"], "expired", None),
                        (malformed["id"], "rejected", "malformed"), (volume["id"], "received", None)]
    received = rig.truth.of(event="received")
    assert received[0]["start_at"] == accepted["start_at"] and received[0]["type"] == "play"
    assert "start_at" not in received[1] and received[1]["type"] == "set_volume"


# ----- validation


def test_a_payload_that_is_not_json_is_counted_and_not_answered(rig):
    rig.send(b"\xff\xfe not json")
    assert rig.events == []
    assert rig.firmware.unreadable == 1
    assert rig.board.tally.unreadable == 1


def test_a_command_without_a_readable_id_is_counted_and_not_answered(rig):
    command = make_play()
    del command["id"]
    rig.send(command)
    rig.send(json.dumps([1, 2, 3]).encode())
    rig.send({**make_play(), "id": 42})
    assert rig.events == []
    assert rig.firmware.unreadable == 3


def test_a_command_missing_a_field_is_rejected_as_malformed(rig):
    command = make_play()
    del command["audio"]
    rig.send(command)
    (event,) = rig.events
    assert event["state"] == "rejected"
    assert event["cmd_id"] == command["id"] and event["run_id"] == command["run_id"]
    assert event["detail"]["reason"] == "malformed"
    assert "audio" in event["detail"]["message"]


def test_a_command_with_a_wrong_type_or_value_is_rejected_as_malformed(rig):
    for bad in ({"duration_ms": "5000"}, {"duration_ms": 0}, {"priority": "urgent"}, {"start_at": "tomorrow"}):
        rig.send(make_play(**bad))
    assert [e["detail"]["reason"] for e in rig.events] == ["malformed"] * 4
    assert rig.audio.requested == []


def test_a_command_for_another_cluster_is_rejected_as_wrong_cluster(rig):
    rig.send(make_play(cid="om-cvl-002"))
    (event,) = rig.events
    assert event["cid"] == CID
    assert event["detail"]["reason"] == "wrong_cluster"


def test_an_unknown_type_or_version_is_rejected_as_unsupported(rig):
    rig.command("dance")
    rig.send({**make_play(), "v": 2})
    assert [e["detail"]["reason"] for e in rig.events] == ["unsupported", "unsupported"]


def test_an_unsigned_command_is_rejected_as_unsigned_and_not_executed(rig):
    command = rig.send(unsigned(make_play(now=rig.clock.now)))
    assert rig.event(command["id"], "rejected")["detail"]["reason"] == "unsigned"
    assert rig.audio.requested == [] and not rig.truth.of(event="received")


def test_a_command_that_arrives_after_expires_at_is_expired_and_not_executed(rig):
    command = make_play(now=rig.clock.now - 700)
    rig.send(command)
    assert rig.states(command["id"]) == ["expired"]
    assert rig.audio.requested == []
    assert not rig.truth.of(event="received")


# ----- rule 2: fetch and verify


def test_a_failed_fetch_is_reported_failed_with_its_reason(rig):
    for reason in ("fetch", "checksum", "decode"):
        command = rig.play(audio={"url": f"http://media.test/{reason}.mp3", "sha256": reason[0] * 64, "bytes": 9})
        rig.audio.settle(FetchOutcome.failure(reason, f"it broke: {reason}"))
        failed = rig.event(command["id"], "failed")
        assert failed["detail"]["reason"] == reason
    rig.advance(30)
    assert "playing" not in rig.states()


def test_audio_already_verified_is_armed_without_fetching_again(rig):
    play_through(rig)
    second = rig.play(start_in=5)
    assert rig.states(second["id"]) == ["received", "ready"]
    assert len(rig.audio.requested) == 1


# ----- rule 3: start at start_at, grace for late audio


def test_a_normal_run_not_ready_by_start_plus_two_seconds_is_late_and_never_plays(rig):
    command = rig.play(start_in=10)
    rig.advance(10 + GRACE_S + 0.001)
    assert rig.states(command["id"]) == ["received", "late"]
    rig.audio.settle()
    rig.advance(30)
    assert rig.states(command["id"]) == ["received", "late"]
    assert rig.truth.of(event="played") == []


def test_a_normal_run_ready_within_the_grace_plays_the_whole_clip_from_the_start(rig):
    command = rig.play(start_in=10)
    rig.advance(11.5)
    rig.audio.settle()
    assert rig.states(command["id"]) == ["received", "ready", "playing"]
    started = epoch(rig.event(command["id"], "playing")["detail"]["started_at"])
    rig.advance(5)
    assert epoch(rig.event(command["id"], "done")["detail"]["ended_at"]) - started == 5.0


def test_a_run_arriving_after_its_grace_is_late_without_fetching(rig):
    command = rig.play(start_in=-3, priority="priority")
    assert rig.states(command["id"]) == ["received", "late"]
    assert rig.audio.requested == []


def test_an_emergency_plays_as_soon_as_ready_even_if_late(rig):
    command = rig.play(start_in=10, priority="emergency")
    rig.advance(30)
    rig.audio.settle()
    assert rig.states(command["id"]) == ["received", "ready", "playing"]
    assert rig.event(command["id"], "playing")["detail"]["started_at"] == protocol.format_time(
        protocol.parse_time(rig.event(command["id"], "ready")["at"])
    )


# ----- rule 4: priorities


def test_a_higher_priority_run_preempts_the_playing_one(rig):
    rig.audio.instant = True
    normal = rig.play(start_in=1, duration_ms=60_000)
    rig.advance(2)
    urgent = rig.play(start_in=1, priority="emergency")
    rig.advance(1)
    preempted = rig.event(normal["id"], "preempted")
    assert preempted["run_id"] == normal["run_id"]
    assert preempted["detail"]["by"] == urgent["run_id"]
    assert rig.states(urgent["id"])[-1] == "playing"
    (cut,) = rig.truth.of(event="preempted")
    assert cut["run_id"] == normal["run_id"] and cut["by"] == urgent["run_id"]
    assert epoch(cut["ended_at"]) - epoch(cut["started_at"]) == 2.0
    rig.advance(60)
    assert "done" not in rig.states(normal["id"])


def test_an_equal_priority_run_queues_behind_the_playing_one(rig):
    rig.audio.instant = True
    first = rig.play(start_in=1, duration_ms=10_000)
    second = rig.play(start_in=3, duration_ms=1_000)
    rig.advance(5)
    assert rig.firmware.state == "playing" and rig.firmware.playing_run_id == first["run_id"]
    assert "playing" not in rig.states(second["id"])
    rig.advance(6)
    assert rig.states(first["id"])[-1] == "done"
    assert rig.event(second["id"], "playing")["detail"]["started_at"] == rig.event(first["id"], "done")["detail"][
        "ended_at"
    ]
    rig.advance(2)
    assert [r["run_id"] for r in rig.truth.of(event="played")] == [first["run_id"], second["run_id"]]


def test_a_lower_priority_run_waits_for_the_higher_one_to_end(rig):
    rig.audio.instant = True
    high = rig.play(start_in=1, duration_ms=10_000, priority="priority")
    low = rig.play(start_in=2, duration_ms=1_000)
    rig.advance(12)
    assert rig.states(high["id"])[-1] == "done"
    assert rig.states(low["id"]) == ["received", "ready", "playing", "done"]


# ----- cancel, stop, volume, tone, reboot


def test_cancel_drops_an_armed_run_before_it_plays(rig):
    command = rig.play(start_in=10)
    rig.audio.settle()
    cancel = rig.command("cancel", run_id=command["run_id"])
    assert rig.states(cancel["id"]) == ["received"]
    cancelled = rig.event(command["id"], "cancelled")
    assert cancelled["detail"]["by"] == cancel["id"]
    rig.advance(30)
    assert "playing" not in rig.states(command["id"])


def test_cancel_stops_a_playing_run_and_logs_the_cut(rig):
    rig.audio.instant = True
    command = rig.play(start_in=1)
    rig.advance(2)
    rig.command("cancel", run_id=command["run_id"])
    assert rig.states(command["id"])[-1] == "cancelled"
    assert rig.firmware.state == "idle"
    (cut,) = rig.truth.of(event="cancelled")
    assert epoch(cut["ended_at"]) - epoch(cut["started_at"]) == 1.0


def test_cancel_of_a_run_still_fetching_ignores_the_fetch_when_it_lands(rig):
    command = rig.play(start_in=10)
    rig.command("cancel", run_id=command["run_id"])
    rig.audio.settle()
    rig.advance(30)
    assert rig.states(command["id"]) == ["received", "cancelled"]


def test_stop_without_max_priority_silences_everything(rig):
    rig.audio.instant = True
    playing = rig.play(start_in=1, priority="emergency", duration_ms=30_000)
    armed = rig.play(start_in=10)
    rig.advance(2)
    rig.command("stop")
    assert rig.states(playing["id"])[-1] == "cancelled"
    assert rig.states(armed["id"])[-1] == "cancelled"
    assert rig.firmware.state == "idle"


def test_stop_with_max_priority_spares_higher_runs(rig):
    rig.audio.instant = True
    urgent = rig.play(start_in=1, priority="emergency", duration_ms=5_000)
    normal = rig.play(start_in=20)
    rig.advance(2)
    rig.command("stop", max_priority="priority")
    assert rig.states(urgent["id"])[-1] == "playing"
    assert rig.states(normal["id"])[-1] == "cancelled"


def test_set_volume_changes_the_volume_the_heartbeat_reports_and_ends_done(rig):
    command = rig.command("set_volume", volume=35)
    assert rig.states(command["id"]) == ["received", "done"]
    assert rig.firmware.heartbeat()["volume"] == 35


def test_a_test_tone_reports_done_with_amp_ok(rig):
    command = rig.command("test_tone", duration_ms=1500)
    rig.advance(1.5)
    assert rig.states(command["id"]) == ["received", "playing", "done"]
    assert rig.event(command["id"], "done")["detail"]["amp_ok"] is True
    assert rig.truth.of(event="tone")[0]["amp_ok"] is True


def test_a_test_tone_on_a_dead_amplifier_reports_amp_ok_false():
    rig = Rig(ClusterSpec(CID, speakers=2, amp_ok=False))
    command = rig.command("test_tone", duration_ms=500)
    rig.advance(1)
    assert rig.event(command["id"], "done")["detail"]["amp_ok"] is False


def test_a_play_on_a_dead_amplifier_fails_with_reason_amplifier():
    rig = Rig(ClusterSpec(CID, speakers=2, amp_ok=False), instant_audio=True)
    command = rig.play(start_in=1)
    rig.advance(2)
    assert rig.states(command["id"]) == ["received", "ready", "failed"]
    assert rig.event(command["id"], "failed")["detail"]["reason"] == "amplifier"


def test_reboot_cancels_runs_drops_the_connection_and_takes_a_new_boot_id(rig):
    rig.audio.instant = True
    command = rig.play(start_in=1, duration_ms=60_000)
    rig.advance(2)
    old_boot = rig.firmware.boot_id
    reboot = rig.command("reboot")
    assert rig.states(reboot["id"]) == ["received"]
    assert rig.uplink.restarts == 0
    rig.advance(REBOOT_DELAY_S)
    assert rig.uplink.restarts == 1
    cancelled = rig.event(command["id"], "cancelled")
    assert cancelled["detail"] == {**cancelled["detail"], "by": reboot["id"], "reason": "reboot"}
    assert rig.firmware.boot_id != old_boot
    assert rig.firmware.heartbeat()["seq"] == 1
    (rebooted,) = rig.truth.of(event="rebooted")
    assert rebooted["previous_boot_id"] == old_boot and rebooted["boot_id"] == rig.firmware.boot_id


# ----- busy: whether the truth of what was sent may still grow


def test_a_cluster_is_busy_while_it_holds_a_run_and_idle_once_it_played(rig):
    assert not rig.firmware.busy
    rig.play(start_in=1)
    assert rig.firmware.busy, "fetching"
    rig.audio.settle()
    assert rig.firmware.busy, "armed"
    rig.advance(3)
    assert rig.firmware.state == "playing" and rig.firmware.busy
    rig.advance(5)
    assert not rig.firmware.busy and rig.truth.of(event="played")


def test_a_cluster_is_busy_while_a_reboot_is_due_or_a_command_is_on_its_way_in(rig):
    rig.command("reboot")
    assert rig.firmware.busy
    rig.advance(REBOOT_DELAY_S)
    assert not rig.firmware.busy
    rig.firmware.queued += 1  # as the session counts a command in the link's delay queue
    assert rig.firmware.busy


# ----- heartbeat and status


def test_a_heartbeat_carries_every_field_and_seq_increments(rig):
    first, second = rig.firmware.heartbeat(), rig.firmware.heartbeat()
    assert second["seq"] == first["seq"] + 1
    expected = {"v", "cid", "at", "boot_id", "seq", "uptime_s", "state", "playing", "armed", "volume", "rssi_dbm",
                "temp_c", "speakers_ok", "speakers_total", "amp_ok", "fw"}
    assert set(first) == expected
    assert first["speakers_total"] == 3 and first["speakers_ok"] == 3 and first["amp_ok"] is True
    protocol.decode(protocol.HEARTBEAT, CID, protocol.encode(first))


def test_the_heartbeat_state_follows_idle_armed_playing(rig):
    assert (rig.firmware.state, rig.firmware.heartbeat()["armed"]) == ("idle", [])
    command = rig.play(start_in=10)
    rig.audio.settle()
    beat = rig.firmware.heartbeat()
    assert (beat["state"], beat["armed"], beat["playing"]) == ("armed", [command["run_id"]], None)
    rig.advance(10)
    beat = rig.firmware.heartbeat()
    assert (beat["state"], beat["armed"], beat["playing"]) == ("playing", [], command["run_id"])


def test_heartbeats_are_sent_every_period_with_the_first_at_a_random_offset():
    rig = Rig(heartbeat_s=30)
    rig.firmware.start_heartbeat()
    rig.advance(30)
    beats = [p for kind, p in rig.uplink.sent if kind == protocol.HEARTBEAT]
    assert len(beats) == 1
    rig.advance(90)
    beats = [p for kind, p in rig.uplink.sent if kind == protocol.HEARTBEAT]
    assert [b["seq"] for b in beats] == [1, 2, 3, 4]
    gaps = {round(epoch(b["at"]) - epoch(a["at"]), 3) for a, b in zip(beats, beats[1:], strict=False)}
    assert gaps == {30.0}


def test_the_status_and_its_will_carry_the_current_boot_and_connection(rig):
    will = rig.firmware.will()
    online = rig.firmware.status(online=True)
    assert online["boot_id"] == will["boot_id"] == rig.firmware.boot_id
    assert (online["online"], will["online"], online["conn"], will["conn"]) == (True, False, 1, 1)
    assert rig.firmware.will()["conn"] == 2  # counted before each CONNECT
    rig.firmware.boot()
    assert rig.firmware.will()["conn"] == 1  # a new boot counts afresh
    protocol.decode(protocol.STATUS, CID, protocol.encode(will))


# ----- many clusters on one loop thread


class SlowUplink(FakeUplink):
    """An uplink whose every publish takes `cost` s of the shared clock, as the one loop thread's I/O does."""

    def __init__(self, cid: str, clock, cost: float):
        super().__init__(cid)
        self.clock, self.cost = clock, cost

    def send(self, kind: str, payload: dict) -> None:
        super().send(kind, payload)
        self.clock.now += self.cost


def test_clusters_due_together_all_start_at_start_at_however_long_their_publishing_takes():
    rig = Rig(instant_audio=True)
    uplinks = [SlowUplink(f"om-cvl-{n:03}", rig.clock, cost=0.001) for n in range(1, 51)]
    fleet = [Firmware(ClusterSpec(u.cid, speakers=2), u, rig.board) for u in uplinks]
    commands = [make_play(fw.cid, rig.clock.now, start_in=10) for fw in fleet]
    for firmware, command in zip(fleet, commands, strict=True):
        firmware.handle_command(protocol.encode(command))
    rig.clock.now = epoch(commands[0]["start_at"])  # every play starts at the same instant
    rig.timers.run_due(rig.clock.now)
    assert rig.clock.now - epoch(commands[0]["start_at"]) == pytest.approx(0.050, abs=1e-4)  # 50 publishes later
    for uplink, command in zip(uplinks, commands, strict=True):
        playing = [p for kind, p in uplink.sent if kind == protocol.EVENTS and p["state"] == "playing"]
        assert [p["detail"]["started_at"] for p in playing] == [command["start_at"]]
    rig.advance(10)
    played = rig.truth.of(event="played")
    assert len(played) == 50
    assert {(r["started_at"], r["ended_at"]) for r in played} == {
        (commands[0]["start_at"], stamp(epoch(commands[0]["start_at"]) + 5))}


def test_in_a_batch_each_cluster_keeps_its_own_order_of_events_and_truth():
    rig = Rig(instant_audio=True)
    sent = []
    rig.board.truth.write = lambda record: sent.append(("truth", record["cid"], record["event"]))
    uplinks = [FakeUplink(cid) for cid in ("om-cvl-001", "om-cvl-002")]
    for uplink in uplinks:
        uplink.send = lambda kind, payload: sent.append((kind, payload["cid"], payload.get("state")))
    fleet = [Firmware(ClusterSpec(u.cid), u, rig.board) for u in uplinks]
    for firmware in fleet:
        firmware.handle_command(protocol.encode(make_play(firmware.cid, rig.clock.now, start_in=1, duration_ms=1000)))
    sent.clear()
    rig.advance(2)  # start, then the end of both one second later
    assert sent == [(protocol.EVENTS, "om-cvl-001", "playing"), (protocol.EVENTS, "om-cvl-002", "playing"),
                    ("truth", "om-cvl-001", "played"), (protocol.EVENTS, "om-cvl-001", "done"),
                    ("truth", "om-cvl-002", "played"), (protocol.EVENTS, "om-cvl-002", "done")]
