"""bench/soak.py in half a minute: make run's stack on a few clusters, some of them flaky, judged by the truth log."""

import json

import pytest

from tests.support.bench import bench_module

CLUSTERS = 6


@pytest.mark.timeout(300)
def test_a_short_soak_plays_every_run_once_on_every_reachable_cluster_and_reports_the_series(tmp_path):
    soak = bench_module("soak")
    result = soak.main(["--minutes", "0.35", "--clusters", str(CLUSTERS), "--flaky", "0.34", "--interval-s", "10",
                        "--sample-s", "5", "--start-in-s", "10", "--settle-s", "5", "--workdir", str(tmp_path)])

    verdict = result["verdict"]
    assert verdict["broadcasts"] == verdict["runs"] == 3 and not verdict["refused"] and not verdict["unfinished"]
    assert verdict["lost"] == verdict["duplicates"] == verdict["stale"] == verdict["disagreements"] == 0
    assert verdict["deliveries"] == 3 * CLUSTERS
    assert verdict["played"] + verdict["excused"] == verdict["deliveries"] and verdict["played"] > 0
    assert isinstance(verdict["pass"], bool)
    flaky = {r["cid"] for r in soak.read_truth(tmp_path / "instance" / "sim-truth.jsonl", event="fault")}
    assert 0 < len(flaky) < CLUSTERS, "the flaky share took some clusters, not all"
    written = json.loads((tmp_path / "soak.json").read_text())
    assert written["verdict"] == verdict
    for sample in written["samples"]:
        assert set(sample["processes"]) == set(soak.PARTS)
        assert all(part["rss_mb"] > 0 and part["fds"] > 0 for part in sample["processes"].values())
    assert written["samples"][-1]["deliveries"].get("done", 0) == verdict["played"]
