"""No persistent job store: migration 0011 drops APScheduler's table, and a downgrade gives an empty one back."""

from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, text

from pa_controller.extensions import db


def tables() -> set[str]:
    return set(inspect(db.engine).get_table_names())


def test_the_job_table_goes_on_upgrade_and_comes_back_empty_on_downgrade(app):
    assert "apscheduler_jobs" not in tables()
    downgrade(revision="0010")
    assert "apscheduler_jobs" in tables()
    with db.engine.begin() as connection:  # the jobs an older scheduler left behind
        connection.execute(text("INSERT INTO apscheduler_jobs (id, next_run_time, job_state) VALUES ('x', 1, :s)"),
                           {"s": b"pickle"})
    upgrade()
    assert "apscheduler_jobs" not in tables()
    assert "run" in tables()
