"""The simulator's command keys: provisioned, learned from the controller's key list, kept across restarts."""

import http.server
import json
import threading

import pytest

from firmware_sim import Fleet, load_csv
from firmware_sim.keyring import MAX_LIST_BYTES, CommandKeys, KeysError, fetch_key_list, read_key_file
from firmware_sim.timers import Timers
from pa_protocol.signing import SigningKey, anchor_entry
from tests.firmware_sim.factories import TEST_KEY, TEST_KEYS, SimClock, successor_entry
from tests.support.broker import free_port

NEXT = SigningKey.generate()
ROTATED = [*TEST_KEYS, successor_entry(NEXT)]
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
    served.entries = [anchor_entry(stranger)]  # a controller whose keys were made anew
    keys._last_begun = float("-inf")
    keys.after_refresh(lambda: None)
    assert set(keys.ring.keys) == {TEST_KEY.kid}


def test_a_first_list_offering_two_keys_for_one_seq_has_neither_trusted_in_any_order():
    stranger = SigningKey.generate()
    for entries in ([*ROTATED, anchor_entry(stranger)], [anchor_entry(stranger), *ROTATED]):
        keys = started(CommandKeys(url=URL, fetch=Served(entries), run=lambda work: work()))
        assert [key.kid for key in keys.ring.chain()] == [NEXT.kid]


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
    kept = json.loads(path.read_text())
    assert kept["v"] == 2 and [(e["seq"], e["id"]) for e in kept["keys"]] == [(1, TEST_KEY.kid), (2, NEXT.kid)]
    stranger = SigningKey.generate()
    again = started(CommandKeys(url=URL, path=path, fetch=Served([anchor_entry(stranger)]), run=lambda work: work()))
    assert set(again.ring.keys) == {TEST_KEY.kid, NEXT.kid}


def test_a_kept_ring_that_cannot_be_read_stops_the_start_and_says_to_delete_it(tmp_path):
    path = tmp_path / "command-keys.json"
    path.write_text("[{]")
    with pytest.raises(KeysError, match="delete the file"):
        CommandKeys(TEST_KEYS, path=path)


def test_a_ring_kept_before_keys_had_a_seq_is_set_aside_and_the_keys_provisioned_again(tmp_path, caplog):
    path = tmp_path / "command-keys.json"
    path.write_text(json.dumps([{"id": TEST_KEY.kid, "public_key": TEST_KEY.public_key}]))  # format 1
    keys = CommandKeys(TEST_KEYS, path=path)
    assert set(keys.ring.keys) == {TEST_KEY.kid} and (tmp_path / "command-keys.json.v1").exists()
    assert "no seq (format 1)" in caplog.text


def test_kept_keys_that_disagree_with_the_keys_given_stop_the_start_and_say_to_delete_them(tmp_path):
    path = tmp_path / "command-keys.json"
    started(CommandKeys(url=URL, path=path, fetch=Served(ROTATED), run=lambda work: work()))
    other = SigningKey.generate()
    with pytest.raises(KeysError, match="disagree.*delete the file"):
        CommandKeys([*TEST_KEYS, successor_entry(other)], path=path)


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


# ----- hostile key lists: a failed fetch is a failed fetch, and what waits for it is answered


class Answering:
    """An HTTP server that answers every GET with `status` and `body`."""

    def __init__(self):
        self.status, self.body = 200, b"[]"
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(outer.status)
                self.send_header("Content-Length", str(len(outer.body)))
                self.end_headers()
                self.wfile.write(outer.body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/v1/keys/commands"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def answering():
    server = Answering()
    yield server
    server.close()


HOSTILE = {
    "an HTTP error": (500, b"[]", "answered HTTP 500"),
    "not JSON": (200, b"<html>", "not JSON"),
    "nested too deep": (200, b"[" * 100_000 + b"]" * 100_000, "not JSON: RecursionError"),
    "too big": (200, b"[" + b" " * MAX_LIST_BYTES + b"]", "bytes: not a key list"),
    "an object": (200, b'{"keys": []}', "not a list of key entries"),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_a_hostile_answer_is_a_failed_fetch_that_ends_leaves_the_ring_and_answers_what_waits(answering, case):
    answering.status, answering.body, said = HOSTILE[case]
    keys = CommandKeys(TEST_KEYS, url=answering.url, run=lambda work: work())
    asked = []
    keys.start(Timers(), SimClock(), deliver=lambda callback, *args: callback(*args))
    keys._last_begun = float("-inf")
    keys.after_refresh(lambda: asked.append("answered"))
    assert asked == ["answered"] and said in keys.last_error and set(keys.ring.keys) == {TEST_KEY.kid}
    assert not keys._fetching


@pytest.mark.parametrize("entries", [
    [{**successor_entry(NEXT), "signed_by": ["not", "a", "string"]}],
    [{**successor_entry(NEXT), "seq": "2"}],
    [{**successor_entry(NEXT), "public_key": {"x": 1}}],
    [{**successor_entry(NEXT), "not_after": 17, "retired_by": TEST_KEY.kid, "retirement_signature": "x"}],
    [None, 3, "x", [], {}],
])
def test_entries_of_the_wrong_types_teach_nothing_and_the_fetch_still_ends(entries, caplog):
    keys = started(CommandKeys(TEST_KEYS, url=URL, fetch=Served(entries), run=lambda work: work()))
    asked = []
    keys._last_begun = float("-inf")
    keys.after_refresh(lambda: asked.append("answered"))
    assert asked == ["answered"] and set(keys.ring.keys) == {TEST_KEY.kid} and keys.last_error is None
    assert "is ignored" in caplog.text


def test_a_fetch_that_raises_anything_still_ends_and_the_next_one_begins():
    def broken(url):
        raise RecursionError("maximum recursion depth exceeded")

    keys = started(CommandKeys(TEST_KEYS, url=URL, fetch=broken, run=lambda work: work()))
    assert "RecursionError" in keys.last_error and not keys._fetching
    begun = keys.fetches_begun
    keys._last_begun = float("-inf")
    keys.after_refresh(lambda: None)
    assert keys.fetches_begun == begun + 1, "not stuck behind a fetch that never ended"


def test_a_fetch_thread_that_cannot_start_ends_the_fetch_at_once():
    def no_threads(work):
        raise RuntimeError("can't start new thread")

    keys = CommandKeys(TEST_KEYS, url=URL, fetch=Served(ROTATED), run=no_threads)
    asked = []
    keys.start(Timers(), SimClock(), deliver=lambda callback, *args: callback(*args))
    keys._last_begun = float("-inf")
    keys.after_refresh(lambda: asked.append("answered"))
    assert asked == ["answered"] and "can't start new thread" in keys.last_error
