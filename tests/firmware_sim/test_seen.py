"""The store of accepted command ids, in memory and on disk."""

from firmware_sim.seen import SeenCommands, SeenStore
from tests.firmware_sim.factories import CID, Rig


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
    store = SeenStore(tmp_path)
    for n in range(1, 100):
        assert store.open(f"om-cvl-{n:03}").digest_of("x") is None
    store.close()
    assert list(tmp_path.iterdir()) == []


def test_ids_are_forgotten_a_while_after_their_command_expired():
    seen = SeenCommands()
    seen.add("old", "d", keep_until=100.0, now=50.0)
    seen.add("new", "d", keep_until=500.0, now=101.0)
    assert "old" not in seen and "new" in seen


def test_a_damaged_file_is_logged_and_the_cluster_starts_with_an_empty_memory(tmp_path, caplog):
    (tmp_path / "om-cvl-001.json").write_text("{not json")
    seen = SeenStore(tmp_path).open("om-cvl-001")
    assert seen.digest_of("a") is None
    assert "om-cvl-001.json" in caplog.text


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
