"""The simulator's command keys: provisioned, learned from the controller's key list, kept across restarts."""

import json
import threading

import pytest

from firmware_sim import Fleet, load_csv
from firmware_sim.keyring import CommandKeys, KeysError, fetch_key_list, read_key_file
from firmware_sim.timers import Timers
from pa_protocol.signing import SigningKey, endorse
from tests.firmware_sim.factories import TEST_KEY, TEST_KEYS, SimClock
from tests.support.broker import free_port

NEXT = SigningKey.generate()
ROTATED = [*TEST_KEYS, endorse(NEXT.kid, NEXT.public_key, None, TEST_KEY)]
URL = "http://controller.test/api/v1/keys/commands"


class Served:
    """A key list answered at once, on the caller's thread, remembering the thread that asked."""

    def __init__(self, entries):
        self.entries = entries
        self.threads: list[str] = []

    def __call__(self, url: str) -> list[dict]:
        self.threads.append(threading.current_thread().name)
        return list(self.entries)


def started(keys: CommandKeys) -> CommandKeys:
    keys.start(Timers(), SimClock(), deliver=lambda callback, *args: callback(*args))
    return keys


def test_without_provisioned_keys_the_first_list_fetched_is_trusted_and_later_ones_only_teach_endorsed_keys():
    served = Served(TEST_KEYS)
    keys = started(CommandKeys(url=URL, fetch=served, run=lambda work: work()))
    assert set(keys.ring.keys) == {TEST_KEY.kid}
    stranger = SigningKey.generate()
    served.entries = [endorse(stranger.kid, stranger.public_key, None, stranger)]  # a controller swapped
    keys._last_begun = float("-inf")
    keys.after_refresh(lambda: None)
    assert set(keys.ring.keys) == {TEST_KEY.kid}


def test_fetches_run_off_the_calling_thread():
    served = Served(ROTATED)
    done = threading.Event()
    keys = CommandKeys(TEST_KEYS, url=URL, fetch=served)
    keys.start(Timers(), SimClock(), deliver=lambda callback, *args: (callback(*args), done.set()))
    assert done.wait(5)
    assert served.threads == ["sim-keys"] and NEXT.kid in keys.ring


def test_what_the_ring_learned_is_kept_and_a_restart_trusts_it_without_trusting_a_first_fetch_again(tmp_path):
    path = tmp_path / "command-keys.json"
    started(CommandKeys(url=URL, path=path, fetch=Served(ROTATED), run=lambda work: work()))
    assert {entry["id"] for entry in json.loads(path.read_text())} == {TEST_KEY.kid, NEXT.kid}
    stranger = SigningKey.generate()
    again = started(CommandKeys(url=URL, path=path, fetch=Served([endorse(stranger.kid, stranger.public_key, None,
                                                                          stranger)]), run=lambda work: work()))
    assert set(again.ring.keys) == {TEST_KEY.kid, NEXT.kid}


def test_a_kept_ring_that_cannot_be_read_stops_the_start_and_says_to_delete_it(tmp_path):
    path = tmp_path / "command-keys.json"
    path.write_text("[{]")
    with pytest.raises(KeysError, match="delete the file"):
        CommandKeys(TEST_KEYS, path=path)


def test_an_unreachable_key_list_leaves_the_ring_as_it_was_and_says_why():
    keys = started(CommandKeys(TEST_KEYS, url=f"http://127.0.0.1:{free_port()}/api/v1/keys/commands",
                               run=lambda work: work()))
    assert set(keys.ring.keys) == {TEST_KEY.kid} and "cannot fetch the key list" in keys.last_error


def test_a_key_list_that_is_not_one_is_refused_with_what_it_should_be(tmp_path):
    path = tmp_path / "keys.json"
    path.write_text(json.dumps({"keys": TEST_KEYS}))
    with pytest.raises(KeysError, match="not a list of key entries"):
        read_key_file(path)
    with pytest.raises(KeysError, match="cannot fetch"):
        fetch_key_list(f"http://127.0.0.1:{free_port()}/x", timeout=1)


def test_a_fleet_without_keys_or_a_key_list_refuses_to_start_and_says_what_to_give():
    with pytest.raises(ValueError, match="--keys FILE.*--keys-url URL"):
        Fleet(load_csv(limit=1), "mqtt://127.0.0.1:1", seed=1)
