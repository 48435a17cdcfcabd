"""The `relay` command: a live stream played for its window, checked on a simulated clock without a broker."""

import pytest

from firmware_sim.board import epoch, stamp
from firmware_sim.roster import ClusterSpec
from tests.firmware_sim.factories import CID, Rig, make_relay


def played_seconds(record: dict) -> float:
    return epoch(record["ended_at"]) - epoch(record["started_at"])


# ----- the window


def test_a_relay_is_ready_at_once_plays_from_start_at_and_is_done_at_end_at(rig):
    command = rig.relay(start_in=10, window_s=60)
    assert rig.states(command["id"]) == ["received", "ready"]
    assert rig.audio.requested == [], "a relay fetches no clip"

    rig.advance(10)
    playing = rig.event(command["id"], "playing")
    assert playing["run_id"] == command["run_id"]
    assert playing["detail"]["started_at"] == command["start_at"]

    rig.advance(59.999)
    assert rig.states(command["id"])[-1] == "playing"
    rig.advance(0.001)
    assert rig.states(command["id"]) == ["received", "ready", "playing", "done"]
    assert rig.event(command["id"], "done")["detail"]["ended_at"] == command["end_at"]
    assert rig.firmware.state == "idle"


def test_a_relay_played_through_leaves_one_played_truth_line_with_its_stream_and_window(rig):
    command = rig.relay(start_in=10, window_s=60, volume=55)
    rig.advance(80)
    (played,) = rig.truth.of(event="played")
    assert played["cid"] == CID and played["run_id"] == command["run_id"] and played["cmd_id"] == command["id"]
    assert played["kind"] == "relay" and played["stream_url"] == command["stream_url"]
    assert "sha256" not in played
    assert played["start_at"] == played["started_at"] == command["start_at"]
    assert played["end_at"] == played["ended_at"] == command["end_at"]
    assert played["volume"] == 55 and played["priority"] == "normal"
    assert rig.truth.of(event="received", cmd_id=command["id"])[0]["type"] == "relay"


def test_the_heartbeat_shows_a_relay_armed_then_playing(rig):
    command = rig.relay(start_in=10)
    beat = rig.firmware.heartbeat()
    assert (beat["state"], beat["armed"]) == ("armed", [command["run_id"]])
    rig.advance(10)
    beat = rig.firmware.heartbeat()
    assert (beat["state"], beat["playing"]) == ("playing", command["run_id"])


def test_a_relay_received_after_start_at_joins_the_stream_and_plays_until_end_at(rig):
    """Unlike a recorded clip, a live relay can be joined mid-way, long past the 2 s grace."""
    command = rig.relay(start_in=-20, window_s=60)
    assert rig.states(command["id"]) == ["received", "ready", "playing"]
    assert rig.event(command["id"], "playing")["detail"]["started_at"] == stamp(rig.clock.now)
    rig.advance(40)
    assert rig.event(command["id"], "done")["detail"]["ended_at"] == command["end_at"]
    (played,) = rig.truth.of(event="played")
    assert played["start_at"] == command["start_at"]
    assert played_seconds(played) == 40.0


def test_a_relay_queued_behind_an_equal_priority_clip_joins_when_the_clip_ends(rig):
    rig.audio.instant = True
    clip = rig.play(start_in=1, duration_ms=20_000)
    relay = rig.relay(start_in=5, window_s=60)
    rig.advance(10)
    assert rig.firmware.playing_run_id == clip["run_id"]
    rig.advance(11)
    started = rig.event(relay["id"], "playing")["detail"]["started_at"]
    assert started == rig.event(clip["id"], "done")["detail"]["ended_at"]
    rig.advance(60)
    assert rig.event(relay["id"], "done")["detail"]["ended_at"] == relay["end_at"]


def test_a_relay_whose_window_closes_while_it_waits_is_late_and_never_sounds(rig):
    rig.audio.instant = True
    clip = rig.play(start_in=1, duration_ms=60_000)
    relay = rig.relay(start_in=5, window_s=10)
    rig.advance(15)
    assert rig.states(relay["id"]) == ["received", "ready", "late"]
    assert rig.event(relay["id"], "late")["detail"]["end_at"] == relay["end_at"]
    assert rig.firmware.heartbeat()["armed"] == []
    rig.advance(60)
    assert rig.states(clip["id"])[-1] == "done"
    assert [r["run_id"] for r in rig.truth.of(event="played")] == [clip["run_id"]]


def test_a_relay_whose_window_ends_as_the_speakers_free_up_does_not_play_for_zero_seconds(rig):
    rig.audio.instant = True
    clip = rig.play(start_in=1, duration_ms=9_000)
    relay = rig.relay(start_in=5, window_s=5)
    rig.advance(10)
    assert rig.states(clip["id"])[-1] == "done"
    assert rig.states(relay["id"]) == ["received", "ready", "late"]
    assert rig.firmware.state == "idle"


def test_a_relay_received_after_its_window_ended_is_late_and_never_sounds(rig):
    command = rig.relay(start_in=-90, window_s=60, priority="emergency")
    assert rig.states(command["id"]) == ["received", "late"]
    detail = rig.event(command["id"], "late")["detail"]
    assert (detail["start_at"], detail["end_at"]) == (command["start_at"], command["end_at"])
    rig.advance(60)
    assert rig.truth.of(event="played") == []


def test_a_relay_that_arrives_after_expires_at_is_expired_and_not_executed(rig):
    command = make_relay(now=rig.clock.now - 700, start_in=0, window_s=3600)
    rig.send(command)
    assert rig.states(command["id"]) == ["expired"]
    rig.advance(60)
    assert [r["event"] for r in rig.truth.of(cmd_id=command["id"])] == ["expired"]
    assert rig.firmware.state == "idle"


# ----- priorities, cancel, stop


def test_an_emergency_play_preempts_a_relay_which_does_not_resume(rig):
    rig.audio.instant = True
    relay = rig.relay(start_in=1, window_s=600)
    rig.advance(11)
    urgent = rig.play(start_in=0, priority="emergency", duration_ms=5_000)
    preempted = rig.event(relay["id"], "preempted")
    assert preempted["run_id"] == relay["run_id"] and preempted["detail"]["by"] == urgent["run_id"]
    assert rig.states(urgent["id"])[-1] == "playing"
    (cut,) = rig.truth.of(event="preempted")
    assert cut["kind"] == "relay" and cut["by"] == urgent["run_id"]
    assert played_seconds(cut) == 10.0
    rig.advance(600)
    assert rig.states(relay["id"]) == ["received", "ready", "playing", "preempted"]
    assert [r["run_id"] for r in rig.truth.of(event="played")] == [urgent["run_id"]]


def test_an_emergency_relay_preempts_a_playing_clip(rig):
    rig.audio.instant = True
    clip = rig.play(start_in=1, duration_ms=60_000)
    rig.advance(2)
    relay = rig.relay(start_in=0, window_s=30, priority="emergency")
    assert rig.event(clip["id"], "preempted")["detail"]["by"] == relay["run_id"]
    assert rig.firmware.playing_run_id == relay["run_id"]


def test_cancel_drops_an_armed_relay_before_its_window_opens(rig):
    relay = rig.relay(start_in=10)
    cancel = rig.command("cancel", run_id=relay["run_id"])
    assert rig.event(relay["id"], "cancelled")["detail"]["by"] == cancel["id"]
    rig.advance(120)
    assert rig.states(relay["id"]) == ["received", "ready", "cancelled"]
    assert rig.truth.of(run_id=relay["run_id"], event="cancelled") == []


def test_cancel_stops_a_playing_relay_and_logs_the_cut(rig):
    relay = rig.relay(start_in=1, window_s=600)
    rig.advance(31)
    rig.command("cancel", run_id=relay["run_id"])
    assert rig.states(relay["id"])[-1] == "cancelled"
    assert rig.firmware.state == "idle"
    (cut,) = rig.truth.of(event="cancelled")
    assert cut["kind"] == "relay" and played_seconds(cut) == 30.0
    rig.advance(600)
    assert "done" not in rig.states(relay["id"])


def test_stop_silences_a_playing_relay(rig):
    relay = rig.relay(start_in=0, window_s=600, priority="priority")
    rig.command("stop")
    assert rig.states(relay["id"])[-1] == "cancelled"
    assert rig.firmware.state == "idle"


# ----- idempotence and faults


def test_a_duplicate_relay_is_answered_received_and_played_once(rig):
    relay = rig.relay(start_in=1, window_s=5)
    rig.send(relay)
    rig.advance(10)
    assert rig.states(relay["id"]) == ["received", "ready", "received", "playing", "done"]
    assert len(rig.truth.of(event="played")) == 1


def test_a_relay_on_a_dead_amplifier_fails_with_reason_amplifier():
    rig = Rig(ClusterSpec(CID, speakers=2, amp_ok=False))
    relay = rig.relay(start_in=1)
    rig.advance(2)
    assert rig.states(relay["id"]) == ["received", "ready", "failed"]
    assert rig.event(relay["id"], "failed")["detail"]["reason"] == "amplifier"


# ----- validation


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        pytest.param({"window_s": 0}, "end_at", id="empty-window"),
        pytest.param({"window_s": -60}, "end_at", id="window-backwards"),
        pytest.param({"stream_url": "ftp://radio.test/live"}, "stream_url", id="ftp"),
        pytest.param({"stream_url": "radio.test/live"}, "stream_url", id="no-scheme"),
        pytest.param({"stream_url": "http://"}, "stream_url", id="no-host"),
        pytest.param({"stream_url": "http://radio.test:port/live"}, "stream_url", id="bad-port"),
        pytest.param({"stream_url": "http://radio.test/live stream"}, "stream_url", id="space"),
        pytest.param({"stream_url": "http://radio.test/" + "a" * 1010}, "stream_url", id="too-long"),
        pytest.param({"stream_url": 42}, "stream_url", id="not-a-string"),
        pytest.param({"priority": "urgent"}, "priority", id="bad-priority"),
        pytest.param({"end_at": "tomorrow"}, "tomorrow", id="bad-end-at"),
    ],
)
def test_a_malformed_relay_is_rejected_as_malformed_and_has_no_effect(rig, fields, words):
    command = rig.send(make_relay(now=rig.clock.now, **fields))
    (event,) = rig.events
    assert (event["state"], event["detail"]["reason"]) == ("rejected", "malformed")
    assert event["cmd_id"] == command["id"] and event["run_id"] == command["run_id"]
    assert words in event["detail"]["message"]
    assert [(r["event"], r["reason"]) for r in rig.truth.records] == [("rejected", "malformed")]
    assert rig.firmware.state == "idle"


def test_a_relay_without_end_at_is_rejected_as_malformed(rig):
    command = make_relay()
    del command["end_at"]
    rig.send(command)
    (event,) = rig.events
    assert event["detail"]["reason"] == "malformed" and "end_at" in event["detail"]["message"]


@pytest.mark.parametrize("url", ["https://radio.test/live.m3u8", "rtsp://10.0.0.5:554/stream", "HTTP://RADIO.TEST/a"])
def test_http_https_and_rtsp_stream_urls_are_accepted(rig, url):
    command = rig.relay(stream_url=url)
    assert rig.states(command["id"]) == ["received", "ready"]
