"""Each fault on one firmware, on a simulated clock: what the cluster does, what it reports, what the truth says."""

import pytest

import pa_protocol as protocol
from firmware_sim.board import epoch, stamp
from firmware_sim.condition import Condition
from firmware_sim.dice import Dice
from firmware_sim.firmware import Firmware
from firmware_sim.latency import Latency
from firmware_sim.media import FetchOutcome
from firmware_sim.roster import ClusterSpec
from firmware_sim.timers import Timers
from tests.firmware_sim.factories import CID, T0, FakeUplink, Rig, fixed_id, make_play

# ----- the cluster's own clock


def test_a_cluster_whose_clock_is_ahead_starts_early_in_true_time_and_says_start_at_in_its_own():
    rig = Rig(instant_audio=True)
    rig.inject("clock_offset:offset_s=3")
    command = rig.play(start_in=10)
    rig.advance(6.9)
    assert "playing" not in rig.states(command["id"])
    rig.advance(0.1)
    assert rig.event(command["id"], "playing")["detail"]["started_at"] == command["start_at"]
    rig.advance(5)
    assert rig.event(command["id"], "done")["detail"]["ended_at"] == stamp(epoch(command["start_at"]) + 5)
    (played,) = rig.truth.of(event="played")
    assert played["started_at"] == stamp(T0 + 7) and played["ended_at"] == stamp(T0 + 12)
    assert played["clock_started_at"] == command["start_at"] and played["start_at"] == command["start_at"]
    assert played["clock_ended_at"] == stamp(T0 + 15)


def test_a_cluster_whose_clock_is_behind_starts_late_and_its_events_say_on_time():
    rig = Rig(instant_audio=True)
    rig.inject("clock_offset:offset_s=-4")
    command = rig.play(start_in=10)
    rig.advance(20)
    assert rig.event(command["id"], "playing")["detail"]["started_at"] == command["start_at"]
    (played,) = rig.truth.of(event="played")
    assert played["started_at"] == stamp(T0 + 14) and played["clock_started_at"] == command["start_at"]


def test_a_drifting_clock_gains_with_time_and_starts_runs_by_what_it_reads():
    rig = Rig(instant_audio=True)
    rig.inject("clock_drift:ppm=100000")  # 10 % fast, so the test can see it
    rig.advance(10)
    assert rig.firmware.clock() == pytest.approx(T0 + 11)
    assert rig.firmware.heartbeat()["at"] == stamp(T0 + 11)
    command = rig.play(start_in=10)  # start_at is true T0+20, which this clock reads at T0 + 20/1.1
    rig.advance(20)
    (played,) = rig.truth.of(event="played")
    assert epoch(played["started_at"]) == pytest.approx(T0 + 20 / 1.1, abs=0.001)
    assert played["clock_started_at"] == command["start_at"]


def test_a_clock_that_jumps_while_a_run_is_armed_re_times_the_run():
    rig = Rig(instant_audio=True)
    command = rig.play(start_in=10)
    rig.inject("clock_offset:offset_s=4")
    rig.advance(6)
    assert rig.states(command["id"])[-1] == "playing"


def test_without_a_clock_fault_the_truth_has_no_clock_fields():
    rig = Rig(instant_audio=True)
    rig.play(start_in=1)
    rig.advance(10)
    (played,) = rig.truth.of(event="played")
    assert "clock_started_at" not in played


# ----- a hung application


def test_a_silent_cluster_sends_no_heartbeat_and_ignores_commands_until_the_period_ends():
    rig = Rig(instant_audio=True)
    link = rig.inject("silent:duration=60")
    rig.firmware.start_heartbeat()
    ignored = rig.play(start_in=5)
    assert rig.firmware.handle_command(protocol.encode(ignored)) is False, "not taken: the session holds it"
    rig.advance(59)
    assert rig.heartbeats == [] and rig.events == []
    assert rig.board.tally.ignored == 2 and rig.truth.of(event="received") == []
    assert [r["cmd_id"] for r in rig.truth.of(event="ignored")] == [ignored["id"]] * 2
    rig.advance(31)
    assert link.calls == [("recover",)], "the session hands it what it held"
    assert len(rig.heartbeats) == 1
    heard = rig.play(start_in=1)
    assert rig.states(heard["id"]) == ["received", "ready"]
    assert rig.states(ignored["id"]) == []


# ----- hardware


def test_dead_speakers_lower_speakers_ok_for_their_period():
    rig = Rig(ClusterSpec(CID, speakers=3))
    rig.inject("dead_speakers:speakers=2,duration=10")
    assert rig.firmware.heartbeat()["speakers_ok"] == 1
    rig.advance(10)
    assert rig.firmware.heartbeat()["speakers_ok"] == 3


def test_a_dead_amplifier_fails_runs_with_reason_amplifier_and_tones_report_no_current():
    rig = Rig(instant_audio=True)
    rig.inject("dead_amplifier")
    play = rig.play(start_in=1)
    tone = rig.command("test_tone", duration_ms=500)
    rig.advance(2)
    assert rig.states(play["id"]) == ["received", "ready", "failed"]
    assert rig.event(play["id"], "failed")["detail"]["reason"] == "amplifier"
    assert rig.event(tone["id"], "done")["detail"]["amp_ok"] is False
    assert rig.firmware.heartbeat()["amp_ok"] is False


# ----- downloads


def test_a_slow_download_is_ready_extra_seconds_after_the_fetch_lands():
    rig = Rig()
    rig.inject("slow_download:extra_s=5")
    command = rig.play(start_in=10)
    rig.audio.settle()
    rig.advance(4.9)
    assert rig.states(command["id"]) == ["received"]
    rig.advance(0.1)
    assert rig.states(command["id"]) == ["received", "ready"]


def test_a_failing_download_fails_with_reason_fetch():
    rig = Rig()
    rig.inject("failing_download")
    command = rig.play(start_in=10)
    assert rig.event(command["id"], "failed")["detail"]["reason"] == "fetch"
    assert rig.audio.requested == []


def test_a_checksum_mismatch_fails_with_reason_checksum_and_caches_nothing():
    rig = Rig()
    rig.inject("checksum_mismatch:duration=5")
    command = rig.play(start_in=10)
    rig.audio.settle()
    assert rig.event(command["id"], "failed")["detail"]["reason"] == "checksum"
    rig.advance(5)
    again = rig.play(start_in=10)
    assert rig.states(again["id"]) == ["received"] and len(rig.audio.requested) == 2


# ----- reproducible from a seed: each draw keyed by what it is about


def fates(seed: int, order: list[int], heartbeats: bool = False) -> dict[str, tuple]:
    """Send plays with fixed ids in `order` through download faults; return each one's last state and reason."""
    rig = Rig(seed=seed)
    rig.inject("failing_download:rate=0.4", "checksum_mismatch:rate=0.4")
    if heartbeats:
        rig.firmware.start_heartbeat()
    commands = []
    for n in order:
        audio = {"url": f"http://media.test/{n}.mp3", "sha256": f"{n:064x}", "bytes": 1234}
        commands.append(rig.send(make_play(CID, rig.clock.now, start_in=600, id=fixed_id(n), audio=audio)))
        if heartbeats:
            rig.advance(7.3)  # heartbeats, and their sensor draws, fall between the commands
    rig.audio.settle()
    assert not heartbeats or rig.heartbeats
    return {c["id"]: (rig.events_of(c["id"])[-1]["state"], rig.events_of(c["id"])[-1].get("detail", {}).get("reason"))
            for c in commands}


def test_the_same_seed_fails_the_same_commands_whatever_their_order_and_the_heartbeats_between():
    calm = fates(seed=1, order=list(range(1, 21)))
    assert calm == fates(seed=1, order=list(range(20, 0, -1)), heartbeats=True)
    assert {state for state, _ in calm.values()} == {"failed", "ready"}
    assert {reason for _, reason in calm.values()} == {"fetch", "checksum", None}
    assert calm != fates(seed=2, order=list(range(1, 21)))


class Stub:
    def __init__(self, kind: str, **params):
        self.kind, self.params = kind, params


def flaky(seed: int) -> Condition:
    condition = Condition(Dice(seed, CID))
    condition.add(Stub("loss", rate=0.5, direction="both"), T0)
    condition.add(Stub("delay", delay_s=1.0, jitter_s=2.0), T0)
    return condition


def test_a_flaky_link_loses_and_delays_a_message_by_its_key_not_by_what_was_drawn_before():
    keys = [f"{fixed_id(n)}/1" for n in range(30)]
    first, second = flaky(3), flaky(3)
    drawn = {key: (first.loses(True, key), first.latency(True, key)) for key in keys}
    for seq in range(50):
        second.loses(False, f"heartbeat/1/{seq}")
    assert drawn == {key: (second.loses(True, key), second.latency(True, key)) for key in reversed(keys)}
    assert {lost for lost, _ in drawn.values()} == {True, False}
    assert first.loses(True, keys[0]) is drawn[keys[0]][0], "the same message, the same draw"


def test_each_cluster_draws_its_first_heartbeat_from_its_own_stream_whatever_the_order_of_connections():
    def first_beats(order: list[str]) -> dict[str, float]:
        rig = Rig(seed=9)
        firmwares = {cid: Firmware(ClusterSpec(cid), FakeUplink(cid), rig.board) for cid in sorted(order)}
        for cid in order:
            firmwares[cid].start_heartbeat()
        beats = {}
        for firmware in firmwares.values():
            firmware.uplink.send = lambda kind, payload, cid=firmware.cid: beats.setdefault(cid, rig.clock.now)
        rig.advance(30)
        return beats

    cids = [f"om-cvl-{n:03}" for n in range(1, 9)]
    beats = first_beats(cids)
    assert beats == first_beats(cids[::-1]) and len(set(beats.values())) == len(cids)


# ----- power and crashes


def test_a_power_cut_loses_armed_runs_silently_and_the_cluster_comes_back_with_a_new_boot_id():
    rig = Rig(instant_audio=True)
    sounding = rig.play(start_in=1, duration_ms=60_000)
    armed = rig.play(start_in=30)
    rig.advance(2)
    first_boot = rig.firmware.boot_id
    sent_before = len(rig.uplink.sent)
    link = rig.inject("power_cut:duration=5")
    assert link.calls == [("off", "power_cut", True)]
    (cut,) = rig.truth.of(event="interrupted")
    assert cut["run_id"] == sounding["run_id"] and cut["started_at"] == stamp(T0 + 1) and cut["ended_at"] == stamp(
        T0 + 2)
    rig.advance(40)
    assert len(rig.uplink.sent) == sent_before, "no event for what a dead cluster lost"
    assert link.calls[-1] == ("on", "power_cut")
    (rebooted,) = rig.truth.of(event="rebooted")
    assert rebooted["cause"] == "power_cut" and rebooted["lost_run_ids"] == [armed["run_id"]]
    assert rebooted["previous_boot_id"] == first_boot and rebooted["boot_id"] == rig.firmware.boot_id != first_boot
    assert rig.firmware.state == "idle" and rig.truth.of(event="played") == []


def test_what_the_disk_holds_survives_a_power_cut_accepted_ids_and_verified_audio():
    rig = Rig()
    command = rig.play(start_in=30)
    rig.audio.settle()
    rig.inject("power_cut:duration=1")
    rig.advance(1)
    rig.send(command)
    assert rig.events[-1]["state"] == "received" and rig.events[-1]["detail"] == {"duplicate": True}
    again = rig.play(start_in=10)
    assert rig.states(again["id"]) == ["received", "ready"] and len(rig.audio.requested) == 1


def test_a_reboot_fault_crashes_the_firmware_at_its_time_and_it_is_back_a_second_later():
    rig = Rig()
    first_boot = rig.firmware.boot_id
    link = rig.inject("reboot:at=10")
    rig.advance(10)
    assert link.calls == [("off", "reboot", False)]
    rig.advance(1)
    assert link.calls[-1] == ("on", "reboot") and rig.firmware.boot_id != first_boot


def test_a_flap_cuts_and_restores_the_link_in_cycles():
    rig = Rig()
    link = rig.inject("flap:cycles=2,down_s=1,up_s=2")
    rig.advance(10)
    assert link.calls == [("cut",), ("restore",), ("cut",), ("restore",)]
    assert [(r["phase"], r["cycle"], r["at"]) for r in rig.truth.of(event="fault")] == [
        ("start", 1, stamp(T0)), ("end", 1, stamp(T0 + 1)), ("start", 2, stamp(T0 + 3)), ("end", 2, stamp(T0 + 4))]


# ----- the record of faults


def test_every_fault_start_and_end_is_in_the_truth_with_its_parameters_and_counted():
    rig = Rig()
    rig.inject("loss:rate=0.2,direction=out,at=5,duration=10")
    assert rig.board.tally.faults_planned == 1 and rig.board.tally.faults_applied == 0
    rig.advance(5)
    assert rig.board.tally.faults_active == 1
    assert "faults active 1, applied 1/1" in rig.board.tally.summary(1)
    rig.advance(10)
    start, end = rig.truth.of(event="fault")
    assert start == {"cid": CID, "event": "fault", "fault": "loss", "at": stamp(T0 + 5), "phase": "start",
                     "index": 1, "rate": 0.2, "direction": "out"}
    assert end == {**start, "phase": "end", "at": stamp(T0 + 15)}
    assert rig.board.tally.faults_active == 0 and rig.injector.over.is_set()


def test_faults_still_acting_when_the_simulator_stops_are_ended_in_the_truth_as_stopped():
    rig = Rig()
    rig.inject("dead_amplifier")
    rig.injector.finish()
    assert [(r["phase"], r.get("stopped")) for r in rig.truth.of(event="fault")] == [("start", None), ("end", True)]


# ----- the arithmetic of a condition and of a slow link


def test_overlapping_losses_combine_as_independent_chances():
    condition = Condition()
    condition.add(Stub("loss", rate=0.1, direction="both"), T0)
    condition.add(Stub("loss", rate=0.1, direction="in"), T0)
    assert condition.loss_in == pytest.approx(0.19) and condition.loss_out == pytest.approx(0.1)


def test_true_and_local_time_are_inverse_under_offset_and_drift():
    condition = Condition()
    condition.add(Stub("clock_offset", offset_s=2.5), T0)
    condition.add(Stub("clock_drift", ppm=300), T0 - 3600)
    for true in (T0, T0 + 86_400):
        assert condition.true_time(condition.local_time(true)) == pytest.approx(true, abs=1e-5)
    assert condition.local_time(T0) == pytest.approx(T0 + 2.5 + 3600 * 300e-6)


def test_a_slow_link_keeps_messages_in_order_whatever_their_latency():
    timers, out = Timers(), []
    latency = Latency(timers)
    latency.pass_on(0.0, 2.0, out.append, "first")
    latency.pass_on(0.0, 0.5, out.append, "second")
    latency.pass_on(0.0, 0.0, out.append, "third")
    timers.run_due(1.0)
    assert out == []
    timers.run_due(2.0)
    assert out == ["first", "second", "third"]
    latency.pass_on(5.0, 0.0, out.append, "at once")
    assert out[-1] == "at once"


def test_a_failed_fetch_for_real_is_not_turned_into_a_checksum_fault():
    rig = Rig()
    rig.inject("checksum_mismatch")
    command = rig.play(start_in=10)
    rig.audio.settle(FetchOutcome.failure("fetch", "HTTP 404"))
    assert rig.event(command["id"], "failed")["detail"]["reason"] == "fetch"
