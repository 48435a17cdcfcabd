"""The benchmarks set up what they need: the same run at any hour, whatever the tester's shell exports."""

import os
from datetime import UTC, datetime, timedelta

import pytest

import pa_protocol as protocol
from pa_controller import clock
from pa_controller.extensions import db
from pa_controller.models import Run
from tests.support.bench import bench_module

QUIET_NIGHT = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)  # 22:00 in Ô Môn: inside the default quiet hours


@pytest.fixture(scope="module")
def fanout():
    return bench_module("fanout")


def test_a_bench_config_takes_nothing_from_the_testers_environment(fanout, tmp_path, monkeypatch):
    monkeypatch.setenv("PA_QUIET_HOURS", "00:00-23:59")
    monkeypatch.setenv("PA_MEDIA_DIR", str(tmp_path / "make-run-media"))
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:1/production")
    before = dict(os.environ)
    settings = fanout.bench_config(tmp_path, None)
    assert settings.quiet_hours is None
    assert settings.media_dir == (tmp_path / "instance" / "media").resolve()
    assert settings.database_url == f"sqlite:///{tmp_path / 'bench.db'}"
    assert dict(os.environ) == before, "the bench's own settings do not leak into the process"


@pytest.mark.timeout(120)
def test_the_fanout_broadcasts_are_accepted_in_the_middle_of_the_night(fanout, tmp_path, monkeypatch):
    """Its normal-priority broadcast 30 min ahead fell in the default quiet hours from 21:00 to 04:30."""
    monkeypatch.setattr(clock, "now", lambda: QUIET_NIGHT)
    app = fanout.build_app(tmp_path, "mqtt://127.0.0.1:1", None)
    try:
        runs = [fanout.schedule(app, 50, round_no) for round_no in (1, 2, 3)]  # rounds no longer collide (409)
        with app.app_context():
            starts = [db.session.get(Run, run_id).start_at for run_id in runs]
        assert len(set(starts)) == 3
    finally:
        with app.app_context():
            db.engine.dispose()


@pytest.fixture(scope="module")
def soak():
    return bench_module("soak")


def test_the_soak_counts_lost_duplicate_and_stale_plays_from_the_truth_and_excuses_a_cluster_that_was_down(soak):
    created = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
    start = created + timedelta(seconds=soak.START_IN_S)

    def at(seconds: float) -> str:
        return protocol.format_time(start + timedelta(seconds=seconds))

    def sound(cid: str, began_s: float, event: str = "played") -> dict:
        return {"cid": cid, "event": event, "run_id": "7", "start_at": at(0), "started_at": at(began_s),
                "ended_at": at(began_s + 1.5), "kind": "clip"}

    def link(cid: str, down_s: float, up_s: float) -> list[dict]:
        return [{"cid": cid, "event": "fault", "fault": "flap", "index": 3, "cycle": 1, "phase": phase, "at": at(s)}
                for phase, s in (("start", down_s), ("end", up_s))]

    truth = [sound("on-time", 0.1), sound("twice", 0.1), sound("twice", 1.8), sound("stale", soak.GRACE_S + 1),
             *link("down-at-start", -10, 40), *link("down-long-before", -100, -50),
             {"cid": "on-time", "event": "fault", "fault": "loss", "index": 1, "phase": "start", "at": at(-60)},
             {"cid": "lost", "event": "received", "type": "play", "run_id": "7", "start_at": at(0), "at": at(-20)}]
    states = {"on-time": "done", "twice": "done", "stale": "done", "lost": "expired", "down-at-start": "expired",
              "down-long-before": "expired"}
    report = {"id": 7, "state": "finished", "start_at": at(0), "counts": {},
              "clusters": [{"id": cid, "state": state, "at": at(5)} for cid, state in states.items()]}
    made = soak.Broadcast(1, created, start, 201, broadcast_id=3, run_id=7)

    judged = soak.judge_run(made, report, truth, soak.down_windows(truth))

    assert judged["played"] == 3  # on time, twice (once to the end counts), stale
    assert judged["duplicates"] == ["twice"]
    assert judged["stale"] == ["stale"]
    assert judged["excused"] == ["down-at-start"]  # its link was down across the start; a loss fault excuses nothing
    assert judged["lost"] == ["down-long-before", "lost"]
    assert [line.split(":")[0] for line in judged["disagreements"]] == ["twice"]


def test_the_soak_measures_memory_growth_between_the_same_fractions_of_any_length(soak):
    samples = [{"t_s": t, "processes": {name: {"rss_mb": 100.0 + t / 60} for name in soak.PARTS}}
               for t in range(0, 3601, 30)]
    growth = soak.memory_growth(samples, 3600)["web"]
    assert growth["baseline_mb"] == pytest.approx(110.0)  # minutes 5–15: 105…115 MB
    assert growth["final_mb"] == pytest.approx(155.0)  # minutes 50–60
    assert growth["growth"] == pytest.approx(45 / 110)


def test_the_soak_fails_on_the_controllers_memory_growth_and_shows_the_simulators(soak):
    runs = [{"state": "finished", "lost": [], "duplicates": [], "stale": [], "disagreements": [], "excused": [],
             "clusters": 456, "played": 456}]
    made = [soak.Broadcast(1, QUIET_NIGHT, QUIET_NIGHT, 201, broadcast_id=1, run_id=1)]

    def growth(**by_part: float) -> dict:
        return {name: {"growth": by_part.get(name, 0.01)} for name in soak.PARTS}

    assert soak.verdict(made, runs, growth(simulator=0.5))["pass"]
    failed = soak.verdict(made, runs, growth(scheduler=0.1))
    assert not failed["pass"] and failed["memory_over_limit"] == {"scheduler": 0.1}
    assert not soak.verdict(made, [{**runs[0], "lost": ["om-cvl-001"]}], growth())["pass"]


STUB_BENCH = '''
import sys
from pathlib import Path
sys.path.insert(0, {root!r})
from bench.results import Figure, record
print("measuring", flush=True)
record("good", [Figure("fan-out to 3", 12.0, "ms", 10.0, "≤ 1.5×", True)])
'''


def test_make_bench_reports_a_failed_bench_goes_on_and_rewrites_only_the_summary(tmp_path, capsys):
    run_all = bench_module("run_all")
    benches = tmp_path / "benches"
    benches.mkdir()
    (benches / "good.py").write_text(STUB_BENCH.format(root=str(run_all.ROOT)))
    (benches / "broken.py").write_text("raise SystemExit(3)\n")
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\nIntro.\n\n## Fan-out\n\nHow it measures, by hand.\n")

    failed = run_all.run([run_all.Bench("broken"), run_all.Bench("good")], benches, tmp_path / "results", doc, {})

    out = capsys.readouterr().out
    assert failed == 1
    assert "broken FAILED (exit code 3)" in out and "[good " in out and "measuring" in out and "2 benches" in out
    text = doc.read_text()
    assert text.startswith("# Benchmarks\n\nIntro.\n\n" + run_all.BEGIN)
    assert "| good | fan-out to 3 | 12.0 ms | 10.0 ms | 1.20× | ≤ 1.5× | **yes** |" in text
    assert "| broken | FAILED: exit code 3 |" in text
    assert text.endswith(run_all.END + "\n\n## Fan-out\n\nHow it measures, by hand.\n")

    run_all.run([run_all.Bench("good")], benches, tmp_path / "results", doc, {})
    again = doc.read_text()
    assert again.count(run_all.BEGIN) == 1 and "How it measures, by hand." in again
    assert "| broken | FAILED" in again, "a bench not run this time keeps its last row"


def test_a_checkout_that_runs_some_benches_keeps_the_others_rows_and_replaces_its_own(tmp_path):
    run_all = bench_module("run_all")
    benches = tmp_path / "benches"
    benches.mkdir()
    (benches / "good.py").write_text(STUB_BENCH.format(root=str(run_all.ROOT)))
    doc = tmp_path / "benchmarks.md"
    table = ("| bench | figure | value | raw baseline | ratio | goal | met? | date | load |\n"
             "|---|---|---|---|---|---|---|---|---|\n"
             "| audio | prepare 10 inputs | 47.8 s | 23.9 s | 2.00× | ≤ 2× | **no** | 2026-12-08 00:58 UTC | 17.7 |\n"
             "| good | fan-out to 3 | 99.0 ms | 10.0 ms | 9.90× | ≤ 1.5× | **no** | 2026-12-08 00:59 UTC | 15.1 |\n")
    doc.write_text(f"# Benchmarks\n\nIntro.\n\n{run_all.BEGIN}\n\n{table}\n{run_all.END}\n\n## Fan-out\n")

    run_all.run([run_all.Bench("good")], benches, tmp_path / "results", doc, {})  # a fresh results directory

    text = doc.read_text()
    assert "| audio | prepare 10 inputs | 47.8 s |" in text, "a bench not run here keeps the row the doc had"
    assert "| good | fan-out to 3 | 12.0 ms | 10.0 ms | 1.20× |" in text and "99.0 ms" not in text
    assert text.index("| audio |") < text.index("| good |")
