"""Every scenario of the simulator's library, end to end: the controller's run report agrees with the ground truth.

A sample of the Ô Môn fleet (every 8th cluster: 57, in all seven wards) runs a library scenario, its times scaled
so that its first timed fault starts FIRST_FAULT_S after the fleet starts; a broadcast to the sample starts
START_IN_S after it: during a power cut, just as a storm of reconnections ends, among flaky links and skewed
clocks. Once the run is closed, `firmware_sim.report.compare` holds the controller's report
against the truth log: no cluster reported `done` that did not play, none reported otherwise that did.

Every scenario runs on SQLite; the power cut runs on PostgreSQL too (the other end-to-end tests run on both).
"""

from datetime import UTC, datetime, timedelta

import pytest

from firmware_sim import Fleet, load_csv, read_truth
from firmware_sim.faults.library import library_names, load_scenario
from firmware_sim.report import Comparison, compare
from tests.support.runs import upload

pytestmark = pytest.mark.e2e

SAMPLE = load_csv()[::8]
FIRST_FAULT_S = 1.5  # a timed scenario's first fault starts this long after the fleet does
START_IN_S = 3.0  # the broadcast starts this long after the fleet does: into the faults (the power cut
#                   then ends 6 s later, well after the run's 2 s of grace: no Thới Hòa cluster can play it)
HEARTBEAT_S = 2.0
CASES = [("sqlite", name) for name in library_names()] + [("postgresql", "power-cut-thoi-hoa")]


@pytest.fixture
def system_settings() -> dict:
    # A short settle: the run closes soon after its 1.5 s clip, so each scenario takes seconds, not a minute.
    return {"now_lead_s": 3.0, "run_settle_s": 3.0, "heartbeat_s": HEARTBEAT_S}


def all_idle(fleet: Fleet) -> bool:
    return not any(session.firmware.busy for session in fleet.sessions.values())


def disagreements(report: dict, truth: list[dict]) -> str:
    comparison = compare(report, truth)
    return "\n".join([comparison.summary(), *(d.line() for d in comparison.disagreements)])


def time_scale(name: str) -> float:
    timed = [fault.at for fault in load_scenario(name).faults if fault.at]
    return FIRST_FAULT_S / min(timed) if timed else 1.0


def rehearse(system, broker, tone, tmp_path, **fleet_options) -> tuple[int, list[dict], Comparison]:
    """Run the sample with `fleet_options` (a scenario, faults) and a broadcast to it START_IN_S after it starts.

    Return the run's id, the truth once no cluster is busy, and the comparison once the report agrees with it.
    """
    audio_id = upload(system, tone)
    truth_path = tmp_path / "truth.jsonl"
    # Taken before the fleet starts, so every fault time counted from the fleet's start is at least this late.
    start_at = datetime.now(UTC) + timedelta(seconds=START_IN_S)
    with Fleet(SAMPLE, broker.url, truth_path=truth_path, heartbeat_s=HEARTBEAT_S, seed=7,
               state_dir=tmp_path / "sim-state", **fleet_options,
               credentials=broker.passwords, keys_url=system.keys_url) as fleet:
        # A command to a cluster the broker has never seen subscribe is dropped: wait for every one (a faulty one
        # may be down again by now; its session keeps the commands for it).
        system.wait_for(lambda: fleet.call(lambda: all(s.ever_subscribed for s in fleet.sessions.values())), 10,
                        "every cluster subscribed once", show=fleet.summary)
        start_at = max(start_at, datetime.now(UTC) + timedelta(seconds=1))  # only on a very slow machine
        run_id = system.schedule(audio_id, start_at, {"clusters": [spec.cid for spec in SAMPLE]}, title="Diễn tập")
        system.wait_for(lambda: system.get(f"/api/v1/runs/{run_id}")["state"] == "finished", 40, "the run to close",
                        show=lambda: (system.get(f"/api/v1/runs/{run_id}")["counts"], fleet.summary()))
        # A cluster whose clock is behind starts late, and a lost event comes again after a reconnect: the truth
        # of the run is complete once no cluster is busy (past its grace, none can start it any more); the
        # report must then come to agree.
        system.wait_for(lambda: fleet.call(all_idle, fleet), 30, "every cluster idle", show=fleet.summary)
        truth = read_truth(truth_path)
        comparison = system.wait_for(lambda: (c := compare(system.get(f"/api/v1/runs/{run_id}"), truth)).ok and c,
                                     10, "the report to agree with the ground truth",
                                     show=lambda: disagreements(system.get(f"/api/v1/runs/{run_id}"), truth))
    assert comparison.clusters == len(SAMPLE)
    return run_id, truth, comparison


@pytest.mark.parametrize(("database_url", "name"), CASES, indirect=["database_url"])
def test_the_run_report_agrees_with_the_ground_truth_under_each_scenario(system, broker, tone, tmp_path, name):
    run_id, truth, _ = rehearse(system, broker, tone, tmp_path, scenario=name, time_scale=time_scale(name))
    everyone = {spec.cid for spec in SAMPLE}
    played = {r["cid"] for r in truth if r["event"] == "played" and r["run_id"] == str(run_id)}
    afflicted = {r["cid"] for r in truth if r["event"] == "fault" and r["phase"] == "start"}
    assert bool(afflicted) == bool(load_scenario(name).faults), "the scenario's faults were applied"
    # Agreement alone would pass if nothing played: a cluster no fault touched must have played, and each
    # scenario must have done what it says to the run.
    unexplained = everyone - afflicted - played
    assert not unexplained, [(r["cid"], r["event"], r.get("at")) for r in truth if r["cid"] in unexplained]
    if name == "power-cut-thoi-hoa":
        thoi_hoa = {spec.cid for spec in SAMPLE if spec.ward == "thoi-hoa"}
        assert thoi_hoa and played == everyone - thoi_hoa
    if name == "dead-amplifiers":
        dead = {r["cid"] for r in truth if r.get("fault") == "dead_amplifier"}
        assert dead and not dead & played
    if name == "storm-after-restoration":
        rebooted = {r["cid"] for r in truth if r["event"] == "rebooted" and r.get("cause") == "power_cut"}
        assert rebooted == everyone, "the whole fleet came back from the power cut with a new boot"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_power_cut_in_the_middle_of_the_sound_is_reported_failed_once_the_clusters_come_back(
        system, broker, tone, tmp_path):
    # The 1.5 s clip sounds from START_IN_S; Thới Hòa loses power half a second into it and is back 2 s later.
    cut = f"power_cut:ward=thoi-hoa,at={START_IN_S + 0.5},duration=2"
    run_id, truth, _ = rehearse(system, broker, tone, tmp_path, faults=[cut])
    thoi_hoa = {spec.cid for spec in SAMPLE if spec.ward == "thoi-hoa"}
    interrupted = {r["cid"] for r in truth if r["event"] == "interrupted" and r["run_id"] == str(run_id)}
    played = {r["cid"] for r in truth if r["event"] == "played" and r["run_id"] == str(run_id)}
    assert thoi_hoa and interrupted == thoi_hoa and played == {spec.cid for spec in SAMPLE} - thoi_hoa
    report = system.get(f"/api/v1/runs/{run_id}")
    assert {c["id"] for c in report["clusters"] if c["state"] == "failed"} == thoi_hoa
