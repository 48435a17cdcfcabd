"""Migration 0023: a delivery keeps when its cluster began to sound (those from before have no such time), and runs
are indexed by their start."""

from datetime import UTC, datetime

from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, text

from pa_controller.extensions import db
from pa_protocol import DeliveryState
from tests.factories import make_run

BEFORE, AFTER = "0022", "0023"


def columns() -> set[str]:
    return {column["name"] for column in inspect(db.engine).get_columns("delivery")}


def run_indexes() -> set[str]:
    return {index["name"] for index in inspect(db.engine).get_indexes("run")}


def test_deliveries_from_before_have_no_start_runs_get_their_index_and_a_downgrade_keeps_them(seeded):
    make_run(datetime(2026, 12, 1, 1, 0, tzinfo=UTC), {"om-tho-001": DeliveryState.DONE})
    db.session.remove()
    downgrade(revision=BEFORE)
    assert "started_at" not in columns() and "ix_run_start_at" not in run_indexes()
    upgrade(revision=AFTER)
    assert "ix_run_start_at" in run_indexes()
    assert db.session.execute(text("SELECT cluster_id, started_at FROM delivery")).all() == [("om-tho-001", None)]
    db.session.remove()
    downgrade(revision=BEFORE)
    assert db.session.execute(text("SELECT count(*) FROM delivery")).scalar() == 1
    db.session.remove()
    upgrade()
