"""The store of accepted command ids, in memory and on disk: durable before `received`, read again after a reboot."""

import json
import logging

import pa_protocol as protocol
from firmware_sim.seen import FORMAT, KEEP_AFTER_EXPIRY_S, SeenCommands, SeenStore, StateWriter
from tests.firmware_sim.factories import CID, Rig, make_command, make_play


class Deliveries:
    """Stand in for the loop: completions of writes wait here until the test runs them."""

    def __init__(self):
        self.waiting: list[tuple] = []

    def __call__(self, callback, *args) -> None:
        self.waiting.append((callback, *args))

    def run(self) -> None:
        waiting, self.waiting = self.waiting, []
        for callback, *args in waiting:
            callback(*args)


def test_seen_commands_remember_the_digest_of_each_id():
    seen = SeenCommands()
    seen.add("a", "d1")
    assert "a" in seen and seen.digest_of("a") == "d1" and seen.digest_of("b") is None


def test_seen_commands_forget_the_oldest_beyond_capacity():
    seen = SeenCommands(capacity=3)
    for cmd_id in "abcd":
        seen.add(cmd_id, cmd_id)
    assert len(seen) == 3 and "a" not in seen and "d" in seen


def test_accepted_ids_outlive_the_process_in_one_small_file_per_cluster(tmp_path):
    store = SeenStore(tmp_path)
    store.open("om-cvl-001").add("a", "d1")
    store.close()
    again = SeenStore(tmp_path).open("om-cvl-001")
    assert again.digest_of("a") == "d1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["om-cvl-001.json"]  # no temporary left behind


def test_a_cluster_that_never_got_a_command_writes_nothing(tmp_path):
    store = SeenStore(tmp_path, deliver=Deliveries())
    for n in range(1, 100):
        assert store.open(f"om-cvl-{n:03}").digest_of("x") is None
    store.close()
    assert list(tmp_path.iterdir()) == []


def test_ids_are_forgotten_a_day_after_their_command_expired_and_raise_the_floor_to_that_expiry():
    seen = SeenCommands()
    seen.add("old", "d", expires_at=100.0, now=50.0)
    seen.add("new", "d", expires_at=500.0, now=100.0 + KEEP_AFTER_EXPIRY_S - 1)
    assert "old" in seen and seen.floor is None
    seen.add("newer", "d", expires_at=900.0, now=100.0 + KEEP_AFTER_EXPIRY_S + 1)
    assert "old" not in seen and "new" in seen and seen.floor == 100.0
    assert seen.below_floor(100.0) and not seen.below_floor(100.001)


def test_beyond_capacity_the_id_that_expires_first_is_forgotten_not_the_first_that_came():
    seen = SeenCommands(capacity=2)
    seen.add("relay", "d", expires_at=7200.0, now=0.0)  # a long relay, sent first
    seen.add("stop", "d", expires_at=60.0, now=0.0)
    seen.add("play", "d", expires_at=600.0, now=0.0)
    assert "relay" in seen and "stop" not in seen and seen.floor == 60.0, "a floor at 7200 would refuse the play"


def test_the_floor_survives_the_process_with_the_ids(tmp_path):
    store = SeenStore(tmp_path)
    seen = store.open("om-cvl-001")
    seen.capacity = 1
    seen.add("a", "d1", expires_at=100.0, now=0.0)
    seen.add("b", "d2", expires_at=200.0, now=0.0)
    store.close()
    again = SeenStore(tmp_path).open("om-cvl-001")
    assert again.floor == 100.0 and again.digest_of("b") == "d2" and again.digest_of("a") is None


def test_a_file_of_the_format_before_the_floor_is_read_and_its_times_become_expiries(tmp_path, caplog):
    keep_until = 100.0 + KEEP_AFTER_EXPIRY_S
    (tmp_path / "om-cvl-001.json").write_text(json.dumps({"v": 1, "seen": [["a", "d1", keep_until]]}))
    with caplog.at_level(logging.INFO):
        seen = SeenStore(tmp_path).open("om-cvl-001")
        assert seen.digest_of("a") == "d1" and seen.floor is None
    assert "format 1" in caplog.text and not (tmp_path / "om-cvl-001.json.bad").exists()
    seen.add("b", "d2", expires_at=300.0, now=keep_until + 1)
    assert "a" not in seen and seen.floor == 100.0


def test_a_damaged_file_is_set_aside_and_logged_and_the_cluster_starts_with_an_empty_memory(tmp_path, caplog):
    path = tmp_path / "om-cvl-001.json"
    path.write_text("{not json")
    store = SeenStore(tmp_path)
    seen = store.open("om-cvl-001")
    assert seen.digest_of("a") is None
    assert "om-cvl-001.json" in caplog.text and "set aside as om-cvl-001.json.bad" in caplog.text
    seen.add("b", "d2")
    store.close()
    assert (tmp_path / "om-cvl-001.json.bad").read_text() == "{not json", "kept for a person, not overwritten"
    assert SeenStore(tmp_path).open("om-cvl-001").digest_of("b") == "d2"


def test_a_file_in_another_format_is_set_aside_rather_than_misread(tmp_path, caplog):
    path = tmp_path / "om-cvl-001.json"
    path.write_text(json.dumps({"v": FORMAT + 1, "seen": [["a", "d1", None]]}))
    with caplog.at_level(logging.ERROR):
        assert SeenStore(tmp_path).open("om-cvl-001").digest_of("a") is None
    assert f"format {FORMAT + 1}" in caplog.text and (tmp_path / "om-cvl-001.json.bad").exists()


def test_a_put_after_close_is_written_at_once_not_lost(tmp_path):
    writer = StateWriter(deliver=Deliveries())
    writer.close()
    writer.put(tmp_path / "late.json", b"{}")
    assert (tmp_path / "late.json").read_bytes() == b"{}"


def test_a_command_is_answered_and_acknowledged_only_once_its_id_is_on_disk(tmp_path):
    rig, deliveries = Rig(), Deliveries()
    store = SeenStore(tmp_path, deliver=deliveries)
    rig.firmware.seen = store.open(CID)
    handled = []
    command = make_play(CID, rig.clock.now)
    rig.firmware.handle_command(protocol.encode(command), lambda: handled.append(command["id"]))
    assert rig.events == [] and handled == [] and rig.truth.records == [] and rig.firmware.busy
    assert store.flush()
    saved = json.loads((tmp_path / f"{CID}.json").read_text())["seen"]
    assert rig.events == [] and [entry[0] for entry in saved] == [command["id"]]
    deliveries.run()
    assert rig.states(command["id"]) == ["received"] and handled == [command["id"]]
    assert rig.truth.of(event="received")[0]["start_at"] == command["start_at"]
    store.close()


def test_outcomes_keep_the_order_of_their_commands_while_an_id_is_on_its_way_to_disk(tmp_path):
    rig, deliveries = Rig(), Deliveries()
    store = SeenStore(tmp_path, deliver=deliveries)
    rig.firmware.seen = store.open(CID)
    accepted = make_play(CID, rig.clock.now)
    rig.send(accepted)
    rig.send(accepted)  # redelivered before the first is on disk: a duplicate, answered after it
    expired = rig.send(make_play(CID, rig.clock.now - 700))
    assert rig.events == []
    store.flush()
    deliveries.run()
    assert [(e["cmd_id"], e["state"]) for e in rig.events] == [
        (accepted["id"], "received"), (accepted["id"], "received"), (expired["id"], "expired")]
    store.close()


def test_after_a_reboot_the_ids_come_back_from_the_disk_not_from_memory(tmp_path):
    rig, store = Rig(), SeenStore(tmp_path)
    rig.firmware.seen = store.open(CID)
    command = rig.play()
    (tmp_path / f"{CID}.json").write_text(json.dumps({"v": FORMAT, "seen": []}))  # the disk lost it
    rig.send(command)
    assert rig.events[-1]["detail"] == {"duplicate": True}, "still in memory"
    rig.inject("reboot:duration=1")
    rig.advance(1)
    rig.send(command)
    assert rig.events[-1]["state"] == "received" and "detail" not in rig.events[-1], "read again from the disk"


def test_a_power_cut_drops_a_write_not_yet_begun_and_what_waited_for_it(tmp_path):
    rig, deliveries = Rig(), Deliveries()
    writer_blocked = StateWriter(deliver=deliveries)
    writer_blocked._start_thread = lambda: None  # the write never begins before the power goes
    rig.firmware.seen = SeenCommands(path=tmp_path / f"{CID}.json", writer=writer_blocked)
    command = rig.play()
    rig.inject("power_cut:duration=1")
    rig.advance(1)
    deliveries.run()
    assert rig.events == [] and not (tmp_path / f"{CID}.json").exists() and not rig.firmware.busy
    del writer_blocked._start_thread
    rig.send(command)  # the broker delivers it again: it was never acknowledged
    assert writer_blocked.flush()
    deliveries.run()
    assert rig.states(command["id"]) == ["received"]
    writer_blocked.close()


def test_a_new_firmware_on_the_same_state_dir_answers_a_redelivery_as_a_duplicate_and_does_not_run_it(tmp_path):
    first, store = Rig(), SeenStore(tmp_path)
    first.firmware.seen = store.open(CID)
    command = first.play()
    store.close()

    second = Rig()
    second.firmware.seen = SeenStore(tmp_path).open(CID)
    second.send(command)
    assert second.events[-1]["detail"] == {"duplicate": True} and second.events[-1]["state"] == "received"
    assert second.audio.requested == [] and second.truth.of(event="received") == []
    assert [r["event"] for r in second.truth.records] == ["duplicate"]


def test_the_mark_is_the_highest_issued_at_accepted_only_grows_and_outlives_the_process(tmp_path):
    store = SeenStore(tmp_path)
    seen = store.open(CID)
    assert seen.mark is None
    seen.add("b", "d", expires_at=900.0, issued_at=300.0)
    seen.add("a", "d", expires_at=800.0, issued_at=200.0)  # issued earlier, accepted later: the mark stays
    store.close()
    assert SeenStore(tmp_path).open(CID).mark == 300.0


def test_a_file_written_before_the_mark_existed_is_read_without_one(tmp_path):
    (tmp_path / f"{CID}.json").write_text(json.dumps({"v": FORMAT, "floor": 5.0, "seen": [["a", "d", 10.0]]}))
    seen = SeenStore(tmp_path).open(CID)
    assert seen.mark is None and seen.floor == 5.0 and seen.digest_of("a") == "d"


def _playing_then_saving_to(rig: Rig, writer: StateWriter, path) -> dict:
    """An emergency playing on `rig`, whose ids from now on are saved to `path` by `writer`."""
    rig.audio.instant = True
    playing = rig.play(start_in=1, priority="emergency", duration_ms=60_000)
    rig.advance(2)
    assert rig.states(playing["id"])[-1] == "playing"
    rig.firmware.seen = SeenCommands(path=path, writer=writer)
    return playing


def test_a_stop_silences_at_once_and_is_answered_and_acknowledged_once_its_id_is_on_disk(tmp_path):
    rig, deliveries = Rig(), Deliveries()
    slow = StateWriter(deliver=deliveries)
    slow._start_thread = lambda: None  # the disk takes its time: the write has not begun
    playing = _playing_then_saving_to(rig, slow, tmp_path / f"{CID}.json")
    handled = []
    stop = make_command("stop", CID, rig.clock.now)
    rig.firmware.handle_command(protocol.encode(stop), lambda: handled.append(stop["id"]))
    assert rig.states(playing["id"])[-1] == "cancelled" and rig.firmware.state == "idle", "silent before the disk"
    assert rig.event(playing["id"], "cancelled")["detail"]["by"] == stop["id"]
    assert rig.states(stop["id"]) == [] and handled == [], "not answered nor acknowledged before its id is saved"
    del slow._start_thread
    slow._start_thread()
    assert slow.flush()
    deliveries.run()
    assert rig.states(stop["id"]) == ["received"] and handled == [stop["id"]]
    assert rig.states(playing["id"]).count("cancelled") == 1, "the stop in its turn silences nothing more"
    slow.close()


def test_a_stop_silences_even_when_its_id_cannot_be_saved(tmp_path, caplog):
    rig = Rig()
    failing = StateWriter()  # writes on the spot, into a directory that is not there
    playing = _playing_then_saving_to(rig, failing, tmp_path / "gone" / f"{CID}.json")
    with caplog.at_level(logging.ERROR):
        stop = rig.command("stop")
    assert rig.states(playing["id"])[-1] == "cancelled" and rig.states(stop["id"]) == ["received"]
    assert "cannot save" in caplog.text


def test_a_stop_also_silences_a_run_accepted_just_before_it_whose_id_was_still_on_its_way_to_disk(tmp_path):
    rig, deliveries = Rig(), Deliveries()
    store = SeenStore(tmp_path, deliver=deliveries)
    rig.firmware.seen = store.open(CID)
    rig.audio.instant = True
    play = rig.play(start_in=1)
    stop = rig.command("stop")
    assert rig.events == []
    assert store.flush()
    deliveries.run()
    assert rig.states(play["id"]) == ["received", "ready", "cancelled"] and rig.states(stop["id"]) == ["received"]
    rig.advance(30)
    assert "playing" not in rig.states(play["id"])
    store.close()


def test_a_stop_replayed_is_a_duplicate_and_silences_nothing_it_did_not_already(tmp_path):
    rig = Rig()
    rig.firmware.seen = SeenStore(tmp_path).open(CID)
    stop = rig.command("stop")
    rig.audio.instant = True
    after = rig.play(start_in=1)
    rig.advance(2)
    rig.send(stop)
    assert rig.events_of(stop["id"])[-1]["detail"] == {"duplicate": True}
    assert rig.states(after["id"])[-1] == "playing"
