"""The ground-truth log."""

import json
import threading

import pytest

from firmware_sim.truth import TruthLog, read_truth


def test_truth_lines_are_readable_at_once_and_filterable(tmp_path):
    log = TruthLog(tmp_path / "deep" / "truth.jsonl")
    log.write({"event": "played", "cid": "a"})
    log.write({"event": "received", "cid": "a"})
    assert read_truth(log.path, event="played") == [{"event": "played", "cid": "a"}]
    log.close()
    log.write({"event": "late"})
    assert len(read_truth(log.path)) == 2


def test_truth_lines_from_many_threads_never_interleave(tmp_path):
    log = TruthLog(tmp_path / "truth.jsonl")

    def write(n):
        for i in range(200):
            log.write({"thread": n, "i": i, "padding": "x" * 500})

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    log.close()
    assert len(read_truth(log.path)) == 800


def test_a_last_line_still_being_written_is_left_out(tmp_path):
    path = tmp_path / "truth.jsonl"
    path.write_text('{"event":"played","cid":"a"}\n{"event":"played","ci', encoding="utf-8")
    assert read_truth(path) == [{"event": "played", "cid": "a"}]
    with path.open("a", encoding="utf-8") as log:
        log.write('d":"b"}\n')
    assert read_truth(path, event="played") == [{"event": "played", "cid": "a"}, {"event": "played", "cid": "b"}]


def test_a_last_line_cut_inside_a_character_is_left_out(tmp_path):
    path = tmp_path / "truth.jsonl"
    path.write_bytes('{"title":"Thông báo"}\n{"title":"Th'.encode() + "ô".encode()[:1])
    assert read_truth(path) == [{"title": "Thông báo"}]


def test_a_complete_last_record_without_its_newline_is_kept(tmp_path):
    path = tmp_path / "truth.jsonl"
    path.write_text('{"cid":"a"}\n{"cid":"b"}', encoding="utf-8")
    assert read_truth(path) == [{"cid": "a"}, {"cid": "b"}]


def test_a_broken_line_before_the_last_still_raises(tmp_path):
    path = tmp_path / "truth.jsonl"
    path.write_text('{"cid":"a"}\n{"cid":\n{"cid":"c"}\n', encoding="utf-8")
    with pytest.raises(json.JSONDecodeError):
        read_truth(path)
    path.write_text('{"cid":"a"}\n{"cid":\n', encoding="utf-8")  # ends with its newline: complete, and broken
    with pytest.raises(json.JSONDecodeError):
        read_truth(path)
