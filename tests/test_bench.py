"""The benchmarks set up what they need: the same run at any hour, whatever the tester's shell exports."""

import importlib.util
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pa_controller import clock
from pa_controller.extensions import db
from pa_controller.models import Run

BENCH = Path(__file__).resolve().parent.parent / "bench"
QUIET_NIGHT = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)  # 22:00 in Ô Môn: inside the default quiet hours


def bench_module(name: str):
    """Load bench/NAME.py (a script, not a package) as a module."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
