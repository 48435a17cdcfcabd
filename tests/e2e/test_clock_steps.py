"""The controller's clock stepped forward and back by minutes on a real scheduler process; clusters' clocks off.

The scheduler (`flask pa scheduler`) runs under libfaketime (tests/support/faked_clock.py): its wall clock is
stepped while it runs, its monotonic clock is not, the machine's clock is never touched; the web part and the
clusters keep true time. What the docs promise: a run is sounded by the clusters at its `start_at` on their own
clocks, so a controller clock ahead can dispatch a run early but never sound it early; a run the controller could
not send in time is `missed` with its reason (README, "Missed"); a run already dispatched is never dispatched
again (its Run row says so, schedule.py); a recorded clip that cannot start within 2 s of its start is not played
(PROTOCOL.md rule 3), and nothing is played after its command expired (rule 5, the firmware's expiry check).

Judged by the clusters' ground truth: nothing sounds before its start or after its expiry, nothing twice, and every
run report equals the truth.
"""

import logging
from datetime import UTC, datetime, timedelta

import pytest

from firmware_sim import Fleet, load_csv, read_truth
from firmware_sim.report import compare
from pa_controller.extensions import db
from pa_controller.models import ServiceBeat
from pa_protocol import parse_time
from tests.support.faked_clock import FakedClock
from tests.support.ground_truth import plays, run_expiries, stale_plays
from tests.support.runs import upload
from tests.support.tap import Tap

log = logging.getLogger(__name__)

SAMPLE = load_csv()[::8]  # 57 clusters, in all seven wards
STEP_S = 120  # minutes, not seconds: far beyond every lead, grace and settle time below
START_IN_S = 8.0
HEARTBEAT_S = 2.0
EARLY_TOLERANCE_S = 0.05  # the simulator's timer batch; a sound started this much before start_at is early
GRACE_S = 2.0  # PROTOCOL.md rule 3: a recorded normal run not ready by then is `late`, not played


@pytest.fixture
def controller_settings() -> dict:
    # A short dispatch lead and settle: a run goes out 5 s before its start and closes 5.5 s after it.
    return {"now_lead_s": 3.0, "run_settle_s": 4.0, "heartbeat_s": HEARTBEAT_S, "dispatch_lead_s": 5.0}


def scheduler_offset(controller) -> float | None:
    """How far ahead of true time the scheduler's clock reads, by its latest beat (None before the first)."""
    with controller.app.app_context():
        beat = db.session.get(ServiceBeat, "worker")
        beat_at = beat and beat.beat_at
        db.session.remove()
    return None if beat_at is None else (beat_at - datetime.now(UTC)).total_seconds()


def step(clock: FakedClock, controller, offset_s: int) -> None:
    """Step the scheduler's clock and wait until its plan tick beats by the new one."""
    clock.set(offset_s)
    controller.wait_for(lambda: abs((scheduler_offset(controller) or 1e9) - offset_s) < 3, 15,
                        f"the scheduler to beat {offset_s:+d} s off true time",
                        show=lambda: f"it beats {scheduler_offset(controller)} s off")


def schedule(controller, audio_id: int, in_s: float, title: str, priority: str = "normal") -> int:
    return controller.schedule(audio_id, datetime.now(UTC) + timedelta(seconds=in_s),
                               {"clusters": [spec.cid for spec in SAMPLE]}, priority=priority, title=title)


def report(controller, run_id: int) -> dict:
    return controller.get(f"/api/v1/runs/{run_id}")


def early_or_late(truth: list[dict], reports: dict[int, dict]) -> list[dict]:
    """Return the plays that started before their start_at, or a recorded normal one after its grace (an emergency
    plays as soon as it is ready: stale_plays judges it)."""
    starts = {str(run_id): parse_time(run["start_at"]) for run_id, run in reports.items()}
    return [r for r in truth if r["event"] == "played" and r["run_id"] in starts and not (
        -EARLY_TOLERANCE_S <= (parse_time(r["started_at"]) - starts[r["run_id"]]).total_seconds()
        <= (float("inf") if r["priority"] == "emergency" else GRACE_S))]


def test_a_controller_clock_stepped_forward_and_back_sounds_nothing_early_twice_or_stale(
        controller, scheduler, broker, tone, tmp_path):
    truth_path = tmp_path / "truth.jsonl"
    clock = FakedClock(tmp_path)
    scheduler.env.update(clock.env())
    audio_id = upload(controller, tone)
    with Tap(broker.tester()) as tap, Fleet(SAMPLE, broker.url, truth_path=truth_path, heartbeat_s=HEARTBEAT_S,
                                            credentials=broker.passwords, keys_url=controller.keys_url) as fleet:
        scheduler.start()
        assert fleet.wait_connected(timeout=30) == len(SAMPLE)
        step(clock, controller, 0)

        # Before any step: a run dispatched and played, the one a clock set back must not play again.
        before = schedule(controller, audio_id, START_IN_S, "Trước khi lệch giờ")
        controller.wait_for(lambda: report(controller, before)["state"] == "finished", 30, "the first run to close")

        # Forward: two runs due within the skipped minutes, a normal one and an emergency; by the scheduler's clock
        # both are past their start, the normal one past its grace and the emergency past its window.
        skipped = [schedule(controller, audio_id, START_IN_S, "Trong phút bị bỏ qua"),
                   schedule(controller, audio_id, START_IN_S + 2.5, "Khẩn trong phút bị bỏ qua", "emergency")]
        step(clock, controller, STEP_S)
        controller.wait_for(lambda: all(report(controller, r)["state"] != "scheduled" for r in skipped), 10,
                            "the skipped runs to be settled")

        # Back, by twice as much: the minutes already lived through come round again on the scheduler's clock.
        step(clock, controller, -STEP_S)
        repeated = schedule(controller, audio_id, START_IN_S, "Trong phút lặp lại")
        commands_before = {run_id: tap.commands(run_id) for run_id in (before, *skipped)}
        controller.wait_for(lambda: datetime.now(UTC) > parse_time(report(controller, repeated)["start_at"])
                            + timedelta(seconds=4), 20, "the repeated run's grace to pass")
        assert {run_id: tap.commands(run_id) for run_id in commands_before} == commands_before, (
            "a command went out again while the scheduler's clock was set back")

        # Right again: the run it could not send in time is missed; the next run plays on time.
        step(clock, controller, 0)
        after = schedule(controller, audio_id, START_IN_S, "Sau khi chỉnh giờ")
        runs = [before, *skipped, repeated, after]
        controller.wait_for(lambda: all(report(controller, r)["state"] in ("finished", "missed") for r in runs), 30,
                            "every run settled", show=lambda: {r: report(controller, r)["state"] for r in runs})
        controller.wait_for(lambda: fleet.call(lambda: not any(s.firmware.busy for s in fleet.sessions.values())),
                            15, "every cluster idle", show=fleet.summary)
        truth = read_truth(truth_path)
        reports = {run_id: report(controller, run_id) for run_id in runs}
        copies = {run_id: tap.commands(run_id) for run_id in runs}

    everyone = sorted(spec.cid for spec in SAMPLE)
    for run_id, run in reports.items():
        comparison = compare(run, truth)
        assert comparison.ok, (run_id, [d.line() for d in comparison.disagreements])
        assert all(n == 1 for n in copies[run_id].values()), f"run {run_id} was dispatched twice"
    assert sorted(plays(truth, before)) == everyone and sorted(plays(truth, after)) == everyone
    for run_id in (*skipped, repeated):  # the controller could not send them in time: missed, and silent
        assert reports[run_id]["state"] == "missed" and not plays(truth, run_id), reports[run_id]
    assert not stale_plays(truth, run_expiries(controller.app, runs))
    assert not early_or_late(truth, reports)
    log.warning("runs %s: %s", runs, [(r["state"], r["reason"] if "reason" in r else None) for r in reports.values()])


# ----- a cluster's clock off by minutes (the controller's is right)

SKEWED = [spec.cid for spec in SAMPLE[::10]]  # 6 of 57
AHEAD, BEHIND = SKEWED[::2], SKEWED[1::2]
SKEW_S = 150.0


@pytest.fixture
def system_settings(controller_settings) -> dict:
    return {key: value for key, value in controller_settings.items() if key != "dispatch_lead_s"}


def test_clusters_whose_clocks_are_minutes_off_refuse_as_expired_and_the_others_play_on_time(
        system, broker, tone, tmp_path):
    """Ahead, a cluster finds the command expired by its clock; behind, by the command's own signed `issued_at`
    (docs/protocol.md, "Replay rules"): by its clock it would reach `start_at` after the window closed."""
    truth_path = tmp_path / "truth.jsonl"
    audio_id = upload(system, tone)
    faults = [f"clock_offset:clusters={'+'.join(AHEAD)},offset_s={SKEW_S}",
              f"clock_offset:clusters={'+'.join(BEHIND)},offset_s={-SKEW_S}"]
    with Fleet(SAMPLE, broker.url, truth_path=truth_path, heartbeat_s=HEARTBEAT_S, faults=faults,
               credentials=broker.passwords, keys_url=system.keys_url) as fleet:
        system.wait_for(lambda: fleet.call(lambda: all(s.ever_subscribed for s in fleet.sessions.values())), 10,
                        "every cluster subscribed once", show=fleet.summary)
        runs = [schedule(system, audio_id, START_IN_S, "Đồng hồ lệch"),
                schedule(system, audio_id, START_IN_S + 2.5, "Khẩn, đồng hồ lệch", "emergency")]
        system.wait_for(lambda: all(report(system, r)["state"] == "finished" for r in runs), 30, "both runs to close",
                        show=fleet.summary)
        truth = read_truth(truth_path)
        reports = {run_id: report(system, run_id) for run_id in runs}

    others = sorted({spec.cid for spec in SAMPLE} - set(SKEWED))
    assert {r["cid"] for r in truth if r["event"] == "fault"} == set(SKEWED), "the clocks were moved"
    for run_id, run in reports.items():
        comparison = compare(run, truth)
        assert comparison.ok, (run_id, [d.line() for d in comparison.disagreements])
        assert sorted(plays(truth, run_id)) == others
        states = {c["id"]: c["state"] for c in run["clusters"]}
        assert {cid: states[cid] for cid in SKEWED} == dict.fromkeys(SKEWED, "expired"), run_id
    assert not stale_plays(truth, run_expiries(system.app, runs))
    assert not early_or_late(truth, reports), "the clusters whose clocks are right play on time"
    behind_said = [r.get("message", "") for r in truth if r["event"] == "expired" and r["cid"] in BEHIND]
    assert len(behind_said) == 2 * len(BEHIND) and all("before the command was issued" in m for m in behind_said)
