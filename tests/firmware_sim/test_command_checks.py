"""A cluster runs only what the controller signed, once (docs/protocol.md, "Replay rules"), on a simulated clock."""

import uuid
from datetime import UTC, datetime

import pa_protocol as protocol
from firmware_sim.firmware import REBOOT_DELAY_S
from firmware_sim.keyring import CommandKeys
from firmware_sim.seen import KEEP_AFTER_EXPIRY_S, SeenStore
from pa_protocol.signing import SigningKey, anchor_entry
from tests.firmware_sim.factories import (
    CID,
    TEST_KEYS,
    Rig,
    make_command,
    make_play,
    signed,
    successor_entry,
    unsigned,
)

STRANGER = SigningKey.generate()


def reason_of(rig: Rig, cmd_id: str) -> str:
    return rig.event(cmd_id, "rejected")["detail"]["reason"]


def nothing_ran(rig: Rig) -> bool:
    return not rig.truth.of(event="received") and rig.audio.requested == [] and rig.firmware.volume == 70


# ----- the signature


def test_an_unsigned_command_is_rejected_unsigned_and_nothing_runs(rig):
    command = rig.send(unsigned(make_command("set_volume", now=rig.clock.now, volume=0)))
    assert reason_of(rig, command["id"]) == "unsigned" and nothing_ran(rig)


def test_a_command_with_a_field_changed_after_signing_is_rejected_bad_signature(rig):
    play = make_play(now=rig.clock.now)
    forged = rig.send({**play, "audio": {**play["audio"], "url": "http://attacker.test/x.mp3"}, "volume": 100,
                       "priority": "emergency"})
    assert reason_of(rig, forged["id"]) == "bad_signature" and nothing_ran(rig)


def test_a_command_signed_by_a_key_the_cluster_does_not_trust_is_rejected_bad_signature(rig):
    command = rig.send(signed(make_command("reboot", now=rig.clock.now), STRANGER))
    rejected = rig.event(command["id"], "rejected")
    assert rejected["detail"]["reason"] == "bad_signature" and STRANGER.kid in rejected["detail"]["message"]
    assert nothing_ran(rig) and rig.uplink.restarts == 0


def test_a_command_for_another_cluster_is_rejected_wrong_cluster_even_when_signed(rig):
    command = rig.send(make_command("stop", cid="om-cvl-002", now=rig.clock.now))
    assert reason_of(rig, command["id"]) == "wrong_cluster"


def test_an_expired_signed_command_is_expired_and_not_run(rig):
    command = rig.send(make_command("set_volume", now=rig.clock.now - 700, volume=0))
    assert rig.states(command["id"]) == ["expired"] and nothing_ran(rig)


def test_a_key_past_its_not_after_signs_nothing(rig):
    rig.board.keys = CommandKeys([{**TEST_KEYS[0], "not_after": "2026-11-26T14:59:00.000Z"}])  # before T0
    command = rig.send(make_command("set_volume", now=rig.clock.now, volume=0))
    assert reason_of(rig, command["id"]) == "bad_signature" and nothing_ran(rig)


# ----- replays


def test_a_captured_command_replayed_as_it_is_is_a_duplicate_and_runs_once(rig):
    command = rig.command("set_volume", volume=40)
    rig.firmware.volume = 55  # changed since, by hand
    rig.send(command)
    assert rig.states(command["id"]) == ["received", "done", "received"]
    assert rig.events[-1]["detail"] == {"duplicate": True} and rig.firmware.volume == 55


def test_a_captured_command_re_sent_with_a_new_id_breaks_its_signature(rig):
    command = rig.command("set_volume", volume=40)
    rig.firmware.volume = 55
    copy = rig.send({**command, "id": str(uuid.uuid4())})
    assert reason_of(rig, copy["id"]) == "bad_signature" and rig.firmware.volume == 55


def test_a_captured_command_replayed_after_a_reboot_is_a_duplicate_from_the_disk(tmp_path):
    rig = Rig()
    store = SeenStore(tmp_path)
    rig.firmware.seen = store.open(CID)
    command = rig.command("set_volume", volume=40)
    rig.command("reboot")
    rig.advance(REBOOT_DELAY_S + 1)
    rig.firmware.volume = 55
    rig.send(command)
    assert rig.events[-1]["detail"] == {"duplicate": True} and rig.firmware.volume == 55
    store.close()


def test_a_captured_command_replayed_after_the_cluster_forgot_it_is_refused_by_the_floor(tmp_path):
    rig = Rig()
    store = SeenStore(tmp_path)
    rig.firmware.seen = store.open(CID)
    captured = rig.command("set_volume", volume=0)
    rig.advance(600 + KEEP_AFTER_EXPIRY_S + 1)
    rig.command("set_volume", volume=70)  # its id forgets the captured one, whose expiry becomes the floor
    assert captured["id"] not in rig.firmware.seen
    rig.clock.now -= 700 + KEEP_AFTER_EXPIRY_S  # a clock set back: the captured command looks fresh again
    rig.send(captured)
    assert reason_of(rig, captured["id"]) == "replay" and rig.firmware.volume == 70
    store.close()


def test_the_floor_refuses_a_forgotten_command_after_a_restart_of_the_simulator(tmp_path):
    first = Rig()
    first.firmware.seen = SeenStore(tmp_path).open(CID)
    first.firmware.seen.capacity = 1
    captured = first.command("set_volume", volume=0)
    first.command("set_volume", volume=70)  # beyond capacity: the captured one is forgotten, its expiry kept
    again = Rig()
    again.firmware.seen = SeenStore(tmp_path).open(CID)
    again.send(captured)
    assert reason_of(again, captured["id"]) == "replay" and again.firmware.volume == 70


def test_a_command_expiring_before_the_newest_issued_at_accepted_is_expired_whatever_the_clock_says(tmp_path):
    """The mark: the highest issued_at of the commands accepted, a signed lower bound of true time, kept on disk."""
    rig = Rig()
    rig.firmware.seen = SeenStore(tmp_path).open(CID)
    captured = make_command("set_volume", now=rig.clock.now, volume=0)  # seen by an attacker, never delivered
    rig.advance(3600)
    rig.command("set_volume", volume=60)  # issued an hour later: true time is at least that
    rig.firmware.power_off()
    rig.firmware.power_on("power_cut")
    rig.clock.now -= 3600  # the clock set back (spoofed NTP): the captured command looks fresh to it
    rig.send(captured)
    assert rig.states(captured["id"]) == ["expired"] and rig.firmware.volume == 60
    assert "issued at" in rig.event(captured["id"], "expired")["detail"]["message"]


def test_the_mark_never_refuses_a_command_still_alive_by_the_controllers_clock(rig):
    later = make_command("set_volume", now=rig.clock.now + 30, volume=50)  # issued 30 s after the next one
    sooner = make_command("set_volume", now=rig.clock.now, volume=40)  # expires 570 s after the mark
    rig.clock.now += 30
    rig.send(later)
    rig.send(sooner)
    assert rig.states(sooner["id"]) == ["received", "done"] and rig.firmware.volume == 40


def window(issued: float, start_in: float = 10.0) -> dict:
    """The fields of a play issued at `issued` whose window closes as a run's does: 5 s of clip and 30 s of settle."""
    return {"start_in": start_in, "expires_at": protocol.format_time(
        datetime.fromtimestamp(issued + start_in + 35, UTC))}


def test_a_play_issued_minutes_after_the_clusters_clock_reads_is_expired_not_played_stale(rig):
    """Three minutes behind, the cluster would reach start_at after the run's window closed."""
    issued = rig.clock.now + 180
    play = rig.send(make_play(now=issued, **window(issued)))
    assert rig.states(play["id"]) == ["expired"] and rig.audio.requested == []
    assert "180 s before the command was issued" in rig.event(play["id"], "expired")["detail"]["message"]


def test_a_clock_a_little_behind_still_plays_within_the_window_and_one_ahead_is_not_refused_by_issued_at(rig):
    behind = rig.send(make_play(now=rig.clock.now + 20, **window(rig.clock.now + 20)))
    ahead = rig.send(make_play(now=rig.clock.now - 2, **window(rig.clock.now - 2, start_in=30)))
    assert rig.states(behind["id"])[0] == "received" and rig.states(ahead["id"])[0] == "received"


def test_the_same_command_signed_again_after_a_key_rotation_is_a_duplicate_not_a_replay(rig):
    successor = SigningKey.generate()
    rig.board.keys = CommandKeys([*TEST_KEYS, successor_entry(successor)])
    command = rig.command("set_volume", volume=40)
    rig.firmware.volume = 55
    rig.send(signed(command, successor))
    assert rig.events[-1]["state"] == "received" and rig.events[-1]["detail"] == {"duplicate": True}
    assert rig.firmware.volume == 55


def test_a_different_command_under_a_used_id_is_a_replay_even_when_signed(rig):
    command = rig.command("set_volume", volume=40)
    rig.send(signed({**command, "volume": 0}))
    assert reason_of(rig, command["id"]) == "replay" and rig.firmware.volume == 40


# ----- a key the cluster does not know yet


class KeyList:
    """The controller's key list as a test serves it; fetches wait until the test answers them."""

    def __init__(self, entries: list[dict]):
        self.entries = entries
        self.asked = 0
        self.pending: list = []

    def fetch(self, url: str) -> list[dict]:
        self.asked += 1
        return list(self.entries)

    def run(self, work) -> None:
        self.pending.append(work)

    def answer(self) -> None:
        pending, self.pending = self.pending, []
        for work in pending:
            work()


def learning_rig(served: list[dict], min_gap_s: float = 5.0) -> tuple[Rig, KeyList]:
    """A cluster provisioned with the test key, whose key list serves `served` once fetched at start."""
    rig, key_list = Rig(), KeyList(TEST_KEYS)
    keys = CommandKeys(TEST_KEYS, url="http://controller.test/api/v1/keys/commands", min_gap_s=min_gap_s,
                       fetch=key_list.fetch, run=key_list.run)
    keys.start(rig.timers, rig.clock, deliver=lambda callback, *args: callback(*args))
    rig.board.keys = keys
    key_list.answer()  # the fetch at start
    key_list.entries = served
    return rig, key_list


def test_a_command_signed_by_a_new_key_waits_unacknowledged_for_the_key_list_then_runs():
    successor = SigningKey.generate()
    rig, key_list = learning_rig([*TEST_KEYS, successor_entry(successor)])
    rig.advance(10)
    acknowledged = []
    command = signed(make_command("set_volume", now=rig.clock.now, volume=40), successor)
    rig.firmware.handle_command(protocol.encode(command), lambda: acknowledged.append(command["id"]))
    assert rig.events == [] and acknowledged == [] and rig.firmware.busy and key_list.pending
    key_list.answer()
    assert rig.states(command["id"]) == ["received", "done"] and acknowledged == [command["id"]]
    assert successor.kid in rig.board.keys.ring


def test_a_key_the_list_does_not_vouch_for_is_rejected_once_the_list_was_fetched_after_the_command():
    rig, key_list = learning_rig([*TEST_KEYS, anchor_entry(STRANGER)])
    rig.advance(10)
    command = rig.send(signed(make_command("reboot", now=rig.clock.now), STRANGER))
    assert rig.events == []
    key_list.answer()
    assert reason_of(rig, command["id"]) == "bad_signature" and STRANGER.kid not in rig.board.keys.ring


def test_commands_behind_one_waiting_for_keys_wait_too_and_keep_their_order():
    successor = SigningKey.generate()
    rig, key_list = learning_rig([*TEST_KEYS, successor_entry(successor)])
    rig.advance(10)
    first = rig.send(signed(make_command("set_volume", now=rig.clock.now, volume=40), successor))
    second = rig.send(make_command("set_volume", now=rig.clock.now, volume=50))  # a key it knows
    assert rig.events == []
    key_list.answer()
    assert [e["cmd_id"] for e in rig.events if e["state"] == "done"] == [first["id"], second["id"]]
    assert rig.firmware.volume == 50


def test_a_flood_of_unknown_keys_costs_the_controller_one_fetch_per_gap():
    rig, key_list = learning_rig(list(TEST_KEYS), min_gap_s=5.0)
    asked = key_list.asked
    rig.send(signed(make_command("reboot", now=rig.clock.now), STRANGER))  # within the gap after the start fetch
    for _ in range(20):
        rig.send(signed(make_command("reboot", now=rig.clock.now), STRANGER))
    assert key_list.asked == asked and not key_list.pending, "waits for the gap"
    rig.advance(5)
    key_list.answer()
    assert key_list.asked == asked + 1
    assert [e["detail"]["reason"] for e in rig.events] == ["bad_signature"] * 21


def test_a_command_waiting_for_keys_when_the_power_goes_is_dropped_unacknowledged_and_comes_again():
    successor = SigningKey.generate()
    rig, key_list = learning_rig([*TEST_KEYS, successor_entry(successor)])
    rig.advance(10)
    command = rig.send(signed(make_command("set_volume", now=rig.clock.now, volume=40), successor))
    rig.firmware.power_off()
    key_list.answer()
    assert rig.events == [] and not rig.firmware.busy
    rig.firmware.power_on("power_cut")
    rig.send(command)  # the broker delivers it again
    assert rig.states(command["id"]) == ["received", "done"]


def test_a_reboot_while_a_command_waits_for_the_key_list_leaves_nothing_waiting_and_later_commands_run():
    rig, key_list = learning_rig(list(TEST_KEYS), min_gap_s=5.0)
    rig.advance(10)
    unknown = rig.send(signed(make_command("set_volume", now=rig.clock.now, volume=10), STRANGER))  # held
    reboot = rig.command("reboot")  # waits behind it
    key_list.answer()
    assert reason_of(rig, unknown["id"]) == "bad_signature" and rig.states(reboot["id"]) == ["received"]
    late = rig.send(signed(make_command("set_volume", now=rig.clock.now, volume=20), STRANGER))  # held anew
    assert rig.firmware.busy and rig.states(late["id"]) == []
    rig.advance(REBOOT_DELAY_S + 1)  # rebooted: what memory held is gone, unacknowledged
    assert rig.uplink.restarts == 1 and not rig.firmware.busy
    volume = rig.command("set_volume", volume=40)
    assert rig.states(volume["id"]) == ["received", "done"] and rig.firmware.volume == 40
    rig.advance(5)
    key_list.answer()  # the fetch asked for before the reboot ends: it judges nothing now
    assert rig.states(late["id"]) == [] and not rig.firmware.busy


def test_a_fault_on_one_held_command_does_not_drop_the_commands_behind_it(monkeypatch):
    successor = SigningKey.generate()
    rig, key_list = learning_rig([*TEST_KEYS, successor_entry(successor)])
    rig.advance(10)
    acknowledged = []
    first = signed(make_command("set_volume", now=rig.clock.now, volume=30), successor)
    second = make_command("set_volume", now=rig.clock.now, volume=50)
    for command in (first, second):
        rig.firmware.handle_command(protocol.encode(command), lambda c=command: acknowledged.append(c["id"]))
    verify = rig.board.keys.verify

    def faulty(command, now):
        if command["id"] == first["id"]:
            raise RuntimeError("a firmware bug")
        return verify(command, now)

    monkeypatch.setattr(rig.board.keys, "verify", faulty)
    key_list.answer()
    assert rig.states(second["id"]) == ["received", "done"] and rig.firmware.volume == 50
    assert acknowledged == [first["id"], second["id"]], "the faulty one is acknowledged, as the session does"
