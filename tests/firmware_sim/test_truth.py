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


# ----- picking one run out of a long log


def write_lines(path, *lines: str) -> None:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def test_matching_a_run_id_parses_only_the_lines_that_hold_it(tmp_path, monkeypatch):
    path = tmp_path / "truth.jsonl"
    records = [{"cid": f"c{i}", "run_id": str(i % 5), "event": "played"} for i in range(100)]
    write_lines(path, *(json.dumps(r) for r in records))
    parsed = []
    loads = json.loads
    monkeypatch.setattr(json, "loads", lambda text, *a, **k: parsed.append(text) or loads(text, *a, **k))
    assert read_truth(path, run_id="3") == [r for r in records if r["run_id"] == "3"]
    assert len(parsed) == 20


def test_the_quick_skip_keeps_what_equality_decides(tmp_path):
    """A value quoted inside another (a run "17" in a cmd_id "17") is parsed, then left out by equality."""
    path = tmp_path / "truth.jsonl"
    write_lines(path, '{"cid":"a","run_id":"17"}', '{"cid":"b","run_id":17}', '{"cid":"c","run_id":"7","cmd_id":"17"}',
                '{"cid": "d", "run_id": "17"}', '{"cid":"Thông báo","run_id":"17"}')  # fmt: skip
    assert [r["cid"] for r in read_truth(path, run_id="17")] == ["a", "d", "Thông báo"]
    assert [r["cid"] for r in read_truth(path, run_id="17", cid="Thông báo")] == ["Thông báo"]
    assert read_truth(path, run_id=None) == []
    assert [r["cid"] for r in read_truth(path, run_id=17)] == ["b"]


@pytest.mark.parametrize(
    "broken",
    ['{"cid":"a","run_id":', '{"cid":"a","ru{"cid":"b","run_id":"18"}', "[1, 2]"],
    ids=["cut", "merged", "not-an-object"],
)
def test_a_broken_line_of_another_run_still_raises(tmp_path, broken):
    path = tmp_path / "truth.jsonl"
    write_lines(path, '{"cid":"a","run_id":"17"}', broken, '{"cid":"c","run_id":"17"}')
    with pytest.raises(ValueError):
        read_truth(path, run_id="17")


def test_a_last_line_still_being_written_is_left_out_when_matching_too(tmp_path):
    path = tmp_path / "truth.jsonl"
    path.write_text('{"cid":"a","run_id":"17"}\n{"cid":"b","run_id":"17","ev', encoding="utf-8")
    assert read_truth(path, run_id="17") == [{"cid": "a", "run_id": "17"}]
    assert read_truth(path, run_id="18") == []
