"""The ground-truth log."""

import threading

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
